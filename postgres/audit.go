package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.AuditStore = (*AuditStore)(nil)

// AuditStore keeps the audit log in the audit_events table. Events do not
// belong to users: deleting a user keeps the events about it.
//
// Strings are stored as [gatehouse.AuditEvent.Capped] leaves them, so a
// User-Agent with CR, LF or any other character comes back unchanged. An
// event without attributes comes back with nil Attrs.
type AuditStore struct {
	db *DB
}

// NewAuditStore returns an AuditStore on db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

const auditColumns = `id, occurred_at, event, user_id, actor_id, ip, user_agent, outcome, detail, attrs`

// pruneBatch is how many events one PruneAuditEvents statement deletes.
// Deleting months of events in one statement would be one long
// transaction, its locks and WAL growing with it; batches keep each
// transaction short, and a prune cut off half-way keeps what it did.
const pruneBatch = 5000

// Record implements gatehouse.AuditStore. An ID in use is a CodeConflict
// error.
func (s *AuditStore) Record(ctx context.Context, e gatehouse.AuditEvent) error {
	const op = "record audit event"
	if err := e.Validate(); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	e = e.Capped()
	if e.ID.IsZero() {
		e.ID = gatehouse.NewID()
	}
	if e.Time.IsZero() {
		e.Time = s.db.now()
	}
	attrs := []byte("{}")
	if e.Attrs != nil {
		b, err := json.Marshal(e.Attrs)
		if err != nil {
			return fmt.Errorf("postgres: %s: encode attrs: %w", op, err)
		}
		attrs = b
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
		uuid(e.ID), pgTime(e.Time), string(e.Event), nullUUID(e.UserID), nullUUID(e.ActorID),
		e.IP, e.UserAgent, string(e.Outcome), e.Detail, string(attrs)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// ListAuditEvents implements gatehouse.AuditStore. A negative Offset
// counts as 0. No events is an empty, non-nil slice.
func (s *AuditStore) ListAuditEvents(ctx context.Context, f gatehouse.AuditFilter) ([]gatehouse.AuditEvent, int, error) {
	const op = "list audit events"
	limit, offset := f.Limit, max(f.Offset, 0)
	if limit <= 0 || limit > gatehouse.MaxAuditListLimit {
		limit = gatehouse.MaxAuditListLimit
	}
	// Only the conditions f sets go into the statement, so the planner
	// picks the index that fits them.
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.UserID.IsZero() {
		add("user_id = ?", uuid(f.UserID))
	}
	if f.Event != "" {
		add("event = ?", string(f.Event))
	}
	if !f.Since.IsZero() {
		add("occurred_at >= ?", pgTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("occurred_at < ?", pgTime(f.Until))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}

	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, 0, err
	}
	defer c.Release()
	// One snapshot for the count and the page.
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var total int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_events`+where, args...).Scan(&total); err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	n := len(args)
	rows, err := tx.Query(ctx, `SELECT `+auditColumns+` FROM audit_events`+where+`
		ORDER BY occurred_at DESC, id DESC LIMIT $`+strconv.Itoa(n+1)+` OFFSET $`+strconv.Itoa(n+2),
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	events := make([]gatehouse.AuditEvent, 0, min(limit, max(total-offset, 0)))
	for rows.Next() {
		e, err := scanAuditEvent(rows)
		if err != nil {
			return nil, 0, s.db.fail(ctx, op, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	return events, total, nil
}

// PruneAuditEvents implements gatehouse.AuditStore, deleting in batches of
// pruneBatch, each its own transaction. When ctx ends between batches, the
// events already deleted are counted and the error says why it stopped.
func (s *AuditStore) PruneAuditEvents(ctx context.Context, before time.Time) (int, error) {
	const op = "prune audit events"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	total := 0
	for {
		tag, err := c.Exec(ctx, `DELETE FROM audit_events WHERE id IN
			(SELECT id FROM audit_events WHERE occurred_at < $1 LIMIT $2)`, pgTime(before), pruneBatch)
		if err != nil {
			return total, s.db.fail(ctx, op, err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}

func scanAuditEvent(row pgx.Row) (gatehouse.AuditEvent, error) {
	var (
		e                   gatehouse.AuditEvent
		id, userID, actorID pgtype.UUID
		event, outcome      string
		attrs               []byte
	)
	if err := row.Scan(&id, &e.Time, &event, &userID, &actorID, &e.IP, &e.UserAgent, &outcome, &e.Detail, &attrs); err != nil {
		return e, err
	}
	e.ID = id.Bytes
	if userID.Valid {
		e.UserID = userID.Bytes
	}
	if actorID.Valid {
		e.ActorID = actorID.Bytes
	}
	if err := json.Unmarshal(attrs, &e.Attrs); err != nil {
		return e, fmt.Errorf("audit event %s: stored attrs: %w", e.ID, err)
	}
	if len(e.Attrs) == 0 {
		e.Attrs = nil
	}
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	e.Time = e.Time.UTC()
	e.Event, e.Outcome = gatehouse.AuditEventType(event), gatehouse.AuditOutcome(outcome)
	return e, nil
}
