// Package catalog is Microsoft's licensing catalog: every SKU (product) of the
// official "Product names and service plan identifiers for licensing" CSV
// with its service plans, and the software models Seatwise derives from the
// Dynamics 365, Power Apps, Power Automate and Dataverse products.
//
// The official CSV is embedded (data/licensing.csv, provenance in
// data/SOURCE.md) and parsed once by Default. Parse reads any later download
// of the same file.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/seatwise/seatwise/internal/sam"
)

//go:embed data/licensing.csv
var officialCSV []byte

// OfficialCSV returns a copy of the embedded official CSV, byte for byte.
func OfficialCSV() []byte { return bytes.Clone(officialCSV) }

// Product is one SKU of the catalog with the service plans it includes.
type Product struct {
	SKUID string // GUID, lower case
	// PartNumber is the String_Id as published with surrounding white space
	// removed. A few published String_Ids contain inner spaces
	// ("DYN365_ ENTERPRISE _RELATIONSHIP_SALES"); they are kept for display,
	// and NormalizePartNumber removes them for matching.
	PartNumber   string
	Name         string            // Product_Display_Name
	ServicePlans []sam.ServicePlan // in file order, one per Service_Plan_Id
}

// Catalog is a parsed licensing catalog. It is immutable and safe for
// concurrent use; every method returns copies the caller may modify.
type Catalog struct {
	products  []Product
	byID      map[string]int   // SKU id -> index in products
	byPart    map[string][]int // NormalizePartNumber -> indexes in products
	models    []sam.SoftwareModel
	modelByID map[string]int // SKU id -> index in models
}

// Default returns the catalog of the embedded official CSV, parsed on first
// use. The embedded file is checked by the package tests, so Default panics
// only if the binary was built from a corrupted tree.
func Default() *Catalog { return defaultCatalog() }

var defaultCatalog = sync.OnceValue(func() *Catalog {
	c, err := Parse(bytes.NewReader(officialCSV))
	if err != nil {
		panic("catalog: embedded licensing CSV: " + err.Error())
	}
	return c
})

// Columns of the CSV, found by header name so that their order may change.
const (
	colName     = "Product_Display_Name"
	colStringID = "String_Id"
	colGUID     = "GUID"
	colPlanName = "Service_Plan_Name"
	colPlanID   = "Service_Plan_Id"
)

// Parse reads a licensing CSV in Microsoft's format: a header naming at
// least the columns Product_Display_Name, String_Id, GUID, Service_Plan_Name
// and Service_Plan_Id (in any order, an optional UTF-8 byte order mark before
// it), then one row per (product, service plan). It tolerates the published
// file's irregularities: white space around String_Id and GUID values, a
// String_Id shared by several GUIDs, and friendly names that do not match the
// row's plan (the Service_Plans_Included_Friendly_Names column is ignored;
// plans are identified by Service_Plan_Id). A product's name and part number
// come from its first row. A row with an empty Service_Plan_Id adds the
// product without a plan.
//
// Errors are sam.EINVALID and name the line: malformed CSV, a missing column,
// an empty String_Id, or a GUID or Service_Plan_Id that is not a GUID. An
// input without any product is an error too.
func Parse(r io.Reader) (*Catalog, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, sam.Errorf(sam.EINVALID, "catalog: empty input, expected a CSV header")
	}
	if err != nil {
		return nil, csvError(err)
	}
	cols := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		h = strings.TrimSpace(h)
		if _, dup := cols[h]; !dup {
			cols[h] = i
		}
	}
	idx := make([]int, 0, 5)
	for _, name := range []string{colName, colStringID, colGUID, colPlanName, colPlanID} {
		i, ok := cols[name]
		if !ok {
			return nil, sam.Errorf(sam.EINVALID, "catalog: header has no %s column", name)
		}
		idx = append(idx, i)
	}
	iName, iString, iGUID, iPlanName, iPlanID := idx[0], idx[1], idx[2], idx[3], idx[4]
	need := slices.Max(idx) + 1

	c := &Catalog{byID: map[string]int{}, byPart: map[string][]int{}, modelByID: map[string]int{}}
	planSeen := map[string]map[string]bool{} // SKU id -> plan ids already added
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) < need {
			return nil, sam.Errorf(sam.EINVALID, "catalog: line %d: %d fields, want at least %d", line, len(rec), need)
		}
		skuID := sam.NormalizeGUID(trimSpace(rec[iGUID]))
		if !sam.ValidGUID(skuID) {
			return nil, sam.Errorf(sam.EINVALID, "catalog: line %d: %s %q is not a GUID", line, colGUID, rec[iGUID])
		}
		part := trimSpace(rec[iString])
		if NormalizePartNumber(part) == "" {
			return nil, sam.Errorf(sam.EINVALID, "catalog: line %d: empty %s", line, colStringID)
		}
		planID := sam.NormalizeGUID(trimSpace(rec[iPlanID]))
		if planID != "" && !sam.ValidGUID(planID) {
			return nil, sam.Errorf(sam.EINVALID, "catalog: line %d: %s %q is not a GUID", line, colPlanID, rec[iPlanID])
		}
		pi, ok := c.byID[skuID]
		if !ok {
			pi = len(c.products)
			c.products = append(c.products, Product{SKUID: skuID, PartNumber: part, Name: trimSpace(rec[iName])})
			c.byID[skuID] = pi
			key := NormalizePartNumber(part)
			c.byPart[key] = append(c.byPart[key], pi)
			planSeen[skuID] = map[string]bool{}
		}
		if planID != "" && !planSeen[skuID][planID] {
			planSeen[skuID][planID] = true
			p := &c.products[pi]
			p.ServicePlans = append(p.ServicePlans, sam.ServicePlan{ID: planID, Name: trimSpace(rec[iPlanName])})
		}
	}
	if len(c.products) == 0 {
		return nil, sam.Errorf(sam.EINVALID, "catalog: no products after the header")
	}
	for _, p := range c.products {
		if m, ok := deriveModel(p); ok {
			c.models = append(c.models, m)
		}
	}
	slices.SortStableFunc(c.models, func(a, b sam.SoftwareModel) int {
		if d := familyRank(a.Family) - familyRank(b.Family); d != 0 {
			return d
		}
		return strings.Compare(NormalizePartNumber(a.PartNumber), NormalizePartNumber(b.PartNumber))
	})
	for i, m := range c.models {
		c.modelByID[m.SKUID] = i
	}
	return c, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return sam.Errorf(sam.EINVALID, "catalog: line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return sam.Wrap(sam.EINVALID, err, "catalog: reading CSV")
}

// trimSpace removes Unicode white space, including no-break spaces, around s.
func trimSpace(s string) string { return strings.TrimFunc(s, isSpace) }

func isSpace(r rune) bool { return unicode.IsSpace(r) || r == '\u00a0' || r == '\ufeff' }

// NormalizePartNumber returns the key part numbers are matched by: s without
// any white space (inner spaces included), in upper case. Graph's
// skuPartNumber and the catalog's String_Id compare equal under it, in any
// case.
func NormalizePartNumber(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if isSpace(r) {
			return -1
		}
		return r
	}, s))
}

func familyRank(f sam.Family) int {
	if i := slices.Index(sam.Families, f); i >= 0 {
		return i
	}
	return len(sam.Families)
}

func cloneProduct(p Product) Product {
	p.ServicePlans = slices.Clone(p.ServicePlans)
	return p
}

func cloneModel(m sam.SoftwareModel) sam.SoftwareModel {
	m.ServicePlans = slices.Clone(m.ServicePlans)
	return m
}

// Product returns the product with SKU id skuID (any case, braces and
// surrounding space allowed), of any family, with its service plans.
func (c *Catalog) Product(skuID string) (Product, bool) {
	i, ok := c.byID[sam.NormalizeGUID(skuID)]
	if !ok {
		return Product{}, false
	}
	return cloneProduct(c.products[i]), true
}

// Products returns every product of the catalog in file order.
func (c *Catalog) Products() []Product {
	out := make([]Product, len(c.products))
	for i, p := range c.products {
		out[i] = cloneProduct(p)
	}
	return out
}

// ProductsByPartNumber returns the products whose part number matches
// partNumber under NormalizePartNumber, in file order. Microsoft reuses a few
// String_Ids for several SKUs (MCOPSTN5), so there may be more than one.
func (c *Catalog) ProductsByPartNumber(partNumber string) []Product {
	var out []Product
	for _, i := range c.byPart[NormalizePartNumber(partNumber)] {
		out = append(out, cloneProduct(c.products[i]))
	}
	return out
}

// Model returns the software model of SKU skuID (any case) when the SKU is in
// one of the four catalog families (dynamics365, powerapps, powerautomate,
// dataverse); it reports false for unknown SKUs and SKUs of other families
// (Office 365 and the like).
func (c *Catalog) Model(skuID string) (sam.SoftwareModel, bool) {
	i, ok := c.modelByID[sam.NormalizeGUID(skuID)]
	if !ok {
		return sam.SoftwareModel{}, false
	}
	return cloneModel(c.models[i]), true
}

// Lookup returns the software model named by a SKU GUID or by a part number
// (String_Id / Graph skuPartNumber), both compared case-insensitively, part
// numbers also ignoring white space. Only models of the four families are
// found. A part number shared by several models matches none (no such part
// number exists in the four families of the official file).
func (c *Catalog) Lookup(guidOrPartNumber string) (sam.SoftwareModel, bool) {
	s := trimSpace(guidOrPartNumber)
	if g := sam.NormalizeGUID(s); sam.ValidGUID(g) {
		if m, ok := c.Model(g); ok {
			return m, true
		}
	}
	var found []int
	for _, pi := range c.byPart[NormalizePartNumber(s)] {
		if mi, ok := c.modelByID[c.products[pi].SKUID]; ok {
			found = append(found, mi)
		}
	}
	if len(found) != 1 {
		return sam.SoftwareModel{}, false
	}
	return cloneModel(c.models[found[0]]), true
}

// Models returns the software models of family f, or of all four families
// when f is "", ordered by family (sam.Families order) then part number. A
// family outside sam.Families has no models.
func (c *Catalog) Models(f sam.Family) []sam.SoftwareModel {
	out := []sam.SoftwareModel{}
	for _, m := range c.models {
		if f == "" || m.Family == f {
			out = append(out, cloneModel(m))
		}
	}
	return out
}
