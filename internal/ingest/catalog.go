package ingest

import (
	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
)

// CatalogFilter is the SKUFilter of a catalog: the software models of its
// four families, and every SKU of its CSV as known.
type CatalogFilter struct{ C *catalog.Catalog }

// Model returns the catalog's model of a SKU of the four families.
func (f CatalogFilter) Model(skuID string) (sam.SoftwareModel, bool) { return f.C.Model(skuID) }

// Known reports whether the catalog lists the SKU at all.
func (f CatalogFilter) Known(skuID string) bool {
	_, ok := f.C.Product(skuID)
	return ok
}
