package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kafkaes/kafkaes/examples/healthcare/patient"
	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/serde/pii"
)

// row is a line of the ward board, the read model the nurses' station
// shows.
type row struct {
	ID         string
	Name       string
	Ward       string
	Treatments int
	Status     string
}

// board is the ward-board read model, kept in memory.
type board struct {
	mu   sync.Mutex
	rows map[string]*row
}

func newBoard() *board { return &board{rows: map[string]*row{}} }

// handlers returns the projection's handlers. The board copies names, so
// it must scrub them when a patient is erased: the erasure notice
// (pii.SubjectErased, appended by the eraser after it deleted the key)
// arrives in log order like any event. A rebuild of the board after the
// erasure decodes the patient's Admitted event with the name redacted
// ("") in the first place.
func (b *board) handlers(keys pii.KeyStore) []projection.Handler {
	return []projection.Handler{
		projection.On(func(ctx context.Context, ev patient.Admitted, m projection.Meta) error {
			b.update(m.StreamID, func(r *row) { r.Name, r.Ward, r.Status = ev.Name, ev.Ward, "admitted" })
			return nil
		}),
		projection.On(func(ctx context.Context, ev pii.SubjectErased, m projection.Meta) error {
			// Make this instance's key store see the erasure now, so
			// that no later event of the patient decodes with the old
			// key, then scrub the copy.
			if err := pii.Sync(ctx, keys); err != nil {
				return err
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if r := b.rows[ev.Subject]; r != nil {
				r.Name = ""
			}
			return nil
		}),
		projection.On(func(ctx context.Context, ev patient.Treated, m projection.Meta) error {
			b.update(m.StreamID, func(r *row) { r.Treatments++ })
			return nil
		}),
		projection.On(func(ctx context.Context, ev patient.Discharged, m projection.Meta) error {
			b.update(m.StreamID, func(r *row) { r.Status = "discharged" })
			return nil
		}),
	}
}

func (b *board) update(id string, fn func(*row)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rows[id]
	if r == nil {
		r = &row{ID: id}
		b.rows[id] = r
	}
	fn(r)
}

// lines returns the board, one line per patient, by ID.
func (b *board) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.rows {
		name := r.Name
		if name == "" {
			name = "[redacted]"
		}
		out = append(out, fmt.Sprintf("%-14s %-16s %-10s %d treatments  %s", r.ID, name, r.Ward, r.Treatments, r.Status))
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
