package main

import (
	"errors"
	"fmt"

	"github.com/kafkaes/kafkaes/aggregate"
	"github.com/kafkaes/kafkaes/serde"
)

// Events of an order. Their stable names are registered in newRegistry.
type (
	OrderPlaced struct {
		Customer string `json:"customer"`
	}
	ItemAdded struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
		Price    int64  `json:"price"` // cents per unit
	}
	OrderPaid struct {
		Amount int64 `json:"amount"`
	}
	OrderShipped struct {
		Carrier string `json:"carrier"`
	}
	OrderCancelled struct {
		Reason string `json:"reason"`
	}
)

func newRegistry() *serde.Registry {
	reg := serde.NewRegistry()
	serde.MustRegister[OrderPlaced](reg, "orders.OrderPlaced")
	serde.MustRegister[ItemAdded](reg, "orders.ItemAdded")
	serde.MustRegister[OrderPaid](reg, "orders.OrderPaid")
	serde.MustRegister[OrderShipped](reg, "orders.OrderShipped")
	serde.MustRegister[OrderCancelled](reg, "orders.OrderCancelled")
	return reg
}

// Status is where an order is in its life.
type Status string

// The statuses of an order.
const (
	StatusNew       Status = ""
	StatusOpen      Status = "open"
	StatusPaid      Status = "paid"
	StatusShipped   Status = "shipped"
	StatusCancelled Status = "cancelled"
)

// Errors of order commands.
var (
	ErrAlreadyPlaced = errors.New("order already placed")
	ErrNotOpen       = errors.New("order is not open")
	ErrWrongAmount   = errors.New("payment does not match the total")
	ErrEmpty         = errors.New("order has no items")
	ErrNotPaid       = errors.New("order is not paid")
	ErrBadItem       = errors.New("quantity and price must be positive")
)

// Order is the order aggregate.
type Order struct {
	aggregate.Root
	Status Status
	Total  int64
	Items  int64
}

// Apply changes the state for an event.
func (o *Order) Apply(ev any) {
	switch e := ev.(type) {
	case OrderPlaced:
		o.Status = StatusOpen
	case ItemAdded:
		o.Items += e.Quantity
		o.Total += e.Quantity * e.Price
	case OrderPaid:
		o.Status = StatusPaid
	case OrderShipped:
		o.Status = StatusShipped
	case OrderCancelled:
		o.Status = StatusCancelled
	}
}

// Place opens a new order for customer.
func (o *Order) Place(customer string) error {
	if o.Status != StatusNew {
		return ErrAlreadyPlaced
	}
	aggregate.Raise(o, OrderPlaced{Customer: customer})
	return nil
}

// AddItem adds quantity units of sku at price cents each.
func (o *Order) AddItem(sku string, quantity, price int64) error {
	if o.Status != StatusOpen {
		return fmt.Errorf("add item: %w (status %q)", ErrNotOpen, o.Status)
	}
	if quantity <= 0 || price <= 0 {
		return ErrBadItem
	}
	aggregate.Raise(o, ItemAdded{SKU: sku, Quantity: quantity, Price: price})
	return nil
}

// Pay pays the order; amount must be its total.
func (o *Order) Pay(amount int64) error {
	switch {
	case o.Status != StatusOpen:
		return fmt.Errorf("pay: %w (status %q)", ErrNotOpen, o.Status)
	case o.Items == 0:
		return ErrEmpty
	case amount != o.Total:
		return fmt.Errorf("pay %d: %w (%d)", amount, ErrWrongAmount, o.Total)
	}
	aggregate.Raise(o, OrderPaid{Amount: amount})
	return nil
}

// Ship ships a paid order.
func (o *Order) Ship(carrier string) error {
	if o.Status != StatusPaid {
		return fmt.Errorf("ship: %w (status %q)", ErrNotPaid, o.Status)
	}
	aggregate.Raise(o, OrderShipped{Carrier: carrier})
	return nil
}

// Cancel cancels an order that has not shipped.
func (o *Order) Cancel(reason string) error {
	if o.Status != StatusOpen && o.Status != StatusPaid {
		return fmt.Errorf("cancel: %w (status %q)", ErrNotOpen, o.Status)
	}
	aggregate.Raise(o, OrderCancelled{Reason: reason})
	return nil
}
