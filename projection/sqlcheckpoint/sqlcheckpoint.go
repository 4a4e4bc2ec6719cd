package sqlcheckpoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"

	"github.com/kafkaes/kafkaes/eventstore"
	"github.com/kafkaes/kafkaes/projection"
)

// DefaultTable is the name of the checkpoint table unless [WithTable] says
// otherwise.
const DefaultTable = "kafkaes_checkpoints"

// Store is a [projection.CheckpointStore] in a SQL database. It is safe
// for concurrent use.
type Store struct {
	db    *sql.DB
	table string
	txo   *sql.TxOptions
}

// Option configures a [Store].
type Option func(*Store)

// WithTable sets the checkpoint table's name (a plain or schema-qualified
// identifier such as "views.checkpoints"). The default is [DefaultTable].
func WithTable(name string) Option { return func(s *Store) { s.table = name } }

// WithTxOptions sets the options of the transactions the store begins
// (isolation level). The default is the database's default (READ
// COMMITTED on PostgreSQL), which the fencing is correct under.
func WithTxOptions(o *sql.TxOptions) Option { return func(s *Store) { s.txo = o } }

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// New returns a checkpoint store in db. Call [Store.Init] once to create
// its table.
func New(db *sql.DB, opts ...Option) *Store {
	s := &Store{db: db, table: DefaultTable}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) check() error {
	if s.db == nil {
		return errors.New("sqlcheckpoint: nil *sql.DB; pass an open database to sqlcheckpoint.New")
	}
	if !ident.MatchString(s.table) {
		return fmt.Errorf("sqlcheckpoint: table name %q is not a plain identifier (letters, digits, underscores, optionally schema.table)", s.table)
	}
	return nil
}

// Init creates the checkpoint table if it does not exist.
func (s *Store) Init(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.table+` (
	projection   TEXT    NOT NULL,
	partition_id INTEGER NOT NULL,
	next_offset  BIGINT  NOT NULL,
	PRIMARY KEY (projection, partition_id))`)
	if err != nil {
		return fmt.Errorf("sqlcheckpoint: create table %s: %w", s.table, err)
	}
	return nil
}

// Load returns the stored checkpoint of the projection (nil if none).
func (s *Store) Load(ctx context.Context, name string) (eventstore.Checkpoint, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT partition_id, next_offset FROM `+s.table+` WHERE projection = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("sqlcheckpoint: load checkpoint of %q from %s (did you call Init?): %w", name, s.table, err)
	}
	defer rows.Close()
	var cp eventstore.Checkpoint
	for rows.Next() {
		var p int32
		var off int64
		if err := rows.Scan(&p, &off); err != nil {
			return nil, fmt.Errorf("sqlcheckpoint: load checkpoint of %q: %w", name, err)
		}
		if cp == nil {
			cp = eventstore.Checkpoint{}
		}
		cp[p] = off
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlcheckpoint: load checkpoint of %q: %w", name, err)
	}
	return cp, nil
}

// Delete removes the projection's checkpoint, so that it starts from the
// beginning next time (drop or truncate its view in the same breath).
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := s.check(); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM `+s.table+` WHERE projection = $1`, name); err != nil {
		return fmt.Errorf("sqlcheckpoint: delete checkpoint of %q: %w", name, err)
	}
	return nil
}

type txKey struct{}

// Tx returns the transaction the runner opened for the handlers of the
// current batch, or nil when ctx does not come from a [Store] transaction.
func Tx(ctx context.Context) *sql.Tx {
	tx, _ := ctx.Value(txKey{}).(*sql.Tx)
	return tx
}

// Begin starts a transaction and returns a context that carries it (see
// [Tx]).
func (s *Store) Begin(ctx context.Context, name string, _ int32) (context.Context, projection.Txn, error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	tx, err := s.db.BeginTx(ctx, s.txo)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlcheckpoint: begin transaction: %w", err)
	}
	return context.WithValue(ctx, txKey{}, tx), &txn{s: s, tx: tx, name: name}, nil
}

type txn struct {
	s    *Store
	tx   *sql.Tx
	name string
}

// Commit moves the checkpoint row from from to next (fenced) and commits.
func (t *txn) Commit(ctx context.Context, partition int32, from, next int64) error {
	var res sql.Result
	var err error
	if from == 0 {
		res, err = t.tx.ExecContext(ctx, `INSERT INTO `+t.s.table+` AS c (projection, partition_id, next_offset) VALUES ($1, $2, $3)
ON CONFLICT (projection, partition_id) DO UPDATE SET next_offset = EXCLUDED.next_offset WHERE c.next_offset = 0`, t.name, partition, next)
	} else {
		res, err = t.tx.ExecContext(ctx, `UPDATE `+t.s.table+` SET next_offset = $3 WHERE projection = $1 AND partition_id = $2 AND next_offset = $4`,
			t.name, partition, next, from)
	}
	if err != nil {
		_ = t.tx.Rollback()
		return fmt.Errorf("sqlcheckpoint: store checkpoint %d of %q partition %d: %w", next, t.name, partition, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		_ = t.tx.Rollback()
		return fmt.Errorf("sqlcheckpoint: store checkpoint: %w", err)
	}
	if n != 1 {
		_ = t.tx.Rollback()
		return fmt.Errorf("%w: %q partition %d is no longer at offset %d", projection.ErrCheckpointMoved, t.name, partition, from)
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("sqlcheckpoint: commit %q partition %d at %d: %w", t.name, partition, next, err)
	}
	return nil
}

// Rollback abandons the transaction.
func (t *txn) Rollback() error {
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}
