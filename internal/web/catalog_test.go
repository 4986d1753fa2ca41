package web_test

import (
	"github.com/seatwise/seatwise/internal/catalog"
	"github.com/seatwise/seatwise/internal/sam"
)

func catalogModel(sku string) (sam.SoftwareModel, bool) { return catalog.Default().Model(sku) }
