package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/kafkaes/kafkaes/projection"
	"github.com/kafkaes/kafkaes/projection/sqlcheckpoint"
)

// Summary is a row of the order-summary read model.
type Summary struct {
	ID       string
	Customer string
	Items    int64
	Total    int64
	Status   Status
	Carrier  string
	Version  int64
}

func (s Summary) String() string {
	st := string(s.Status)
	if s.Carrier != "" {
		st += " via " + s.Carrier
	}
	return fmt.Sprintf("%-10s %-6s %2d items %8.2f  %s (v%d)", s.ID, s.Customer, s.Items, float64(s.Total)/100, st, s.Version)
}

// view is an order-summary read model: its projection handlers, its
// checkpoint store and its queries.
type view interface {
	handlers() []projection.Handler
	checkpoints() projection.CheckpointStore
	list(ctx context.Context) ([]Summary, error)
	describe() string
}

// summaryHandlers returns the projection's handlers over an update
// function that changes one order's summary.
func summaryHandlers(update func(ctx context.Context, m projection.Meta, fn func(*Summary)) error) []projection.Handler {
	return []projection.Handler{
		projection.On(func(ctx context.Context, ev OrderPlaced, m projection.Meta) error {
			return update(ctx, m, func(s *Summary) { s.Customer, s.Status = ev.Customer, StatusOpen })
		}),
		projection.On(func(ctx context.Context, ev ItemAdded, m projection.Meta) error {
			return update(ctx, m, func(s *Summary) { s.Items += ev.Quantity; s.Total += ev.Quantity * ev.Price })
		}),
		projection.On(func(ctx context.Context, ev OrderPaid, m projection.Meta) error {
			return update(ctx, m, func(s *Summary) { s.Status = StatusPaid })
		}),
		projection.On(func(ctx context.Context, ev OrderShipped, m projection.Meta) error {
			return update(ctx, m, func(s *Summary) { s.Status, s.Carrier = StatusShipped, ev.Carrier })
		}),
		projection.On(func(ctx context.Context, ev OrderCancelled, m projection.Meta) error {
			return update(ctx, m, func(s *Summary) { s.Status = StatusCancelled })
		}),
	}
}

// memView keeps the summaries in memory; its checkpoint lives (and dies)
// with it, so every run rebuilds it from the start of the log.
type memView struct {
	mu   sync.Mutex
	rows map[string]Summary
	cps  projection.MemoryCheckpoints
}

func newMemView() *memView { return &memView{rows: map[string]Summary{}} }

func (v *memView) handlers() []projection.Handler {
	return summaryHandlers(func(_ context.Context, m projection.Meta, fn func(*Summary)) error {
		v.mu.Lock()
		defer v.mu.Unlock()
		s := v.rows[m.StreamID]
		s.ID = m.StreamID
		fn(&s)
		s.Version = m.Version
		v.rows[m.StreamID] = s
		return nil
	})
}

func (v *memView) checkpoints() projection.CheckpointStore { return &v.cps }
func (v *memView) describe() string                        { return "in-memory view" }

func (v *memView) list(context.Context) ([]Summary, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Summary, 0, len(v.rows))
	for _, s := range v.rows {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// sqlView keeps the summaries in a PostgreSQL table, and the projection's
// checkpoint in the same database and transaction.
type sqlView struct {
	db    *sql.DB
	table string
	cps   *sqlcheckpoint.Store
}

func newSQLView(ctx context.Context, db *sql.DB, table string) (*sqlView, error) {
	v := &sqlView{db: db, table: table, cps: sqlcheckpoint.New(db)}
	if err := v.cps.Init(ctx); err != nil {
		return nil, err
	}
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
	id TEXT PRIMARY KEY, customer TEXT NOT NULL DEFAULT '', items BIGINT NOT NULL DEFAULT 0,
	total BIGINT NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT '', carrier TEXT NOT NULL DEFAULT '',
	version BIGINT NOT NULL DEFAULT 0)`)
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", table, err)
	}
	return v, nil
}

func (v *sqlView) handlers() []projection.Handler {
	return summaryHandlers(func(ctx context.Context, m projection.Meta, fn func(*Summary)) error {
		tx := sqlcheckpoint.Tx(ctx)
		s := Summary{ID: m.StreamID}
		err := tx.QueryRowContext(ctx, `SELECT customer, items, total, status, carrier FROM `+v.table+` WHERE id = $1 FOR UPDATE`, m.StreamID).
			Scan(&s.Customer, &s.Items, &s.Total, &s.Status, &s.Carrier)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		fn(&s)
		_, err = tx.ExecContext(ctx, `INSERT INTO `+v.table+` (id, customer, items, total, status, carrier, version) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET customer = $2, items = $3, total = $4, status = $5, carrier = $6, version = $7`,
			s.ID, s.Customer, s.Items, s.Total, string(s.Status), s.Carrier, m.Version)
		return err
	})
}

func (v *sqlView) checkpoints() projection.CheckpointStore { return v.cps }
func (v *sqlView) describe() string                        { return "PostgreSQL table " + v.table }

func (v *sqlView) list(ctx context.Context) ([]Summary, error) {
	rows, err := v.db.QueryContext(ctx, `SELECT id, customer, items, total, status, carrier, version FROM `+v.table+` ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var s Summary
		if err := rows.Scan(&s.ID, &s.Customer, &s.Items, &s.Total, &s.Status, &s.Carrier, &s.Version); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
