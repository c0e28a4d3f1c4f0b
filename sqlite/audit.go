package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
// SQLite has one writer: deleting a year of events in one transaction
// would hold the write lock, and stall every login, until it finished.
const pruneBatch = 1000

// Record implements gatehouse.AuditStore. An ID in use is a CodeConflict
// error.
func (s *AuditStore) Record(ctx context.Context, e gatehouse.AuditEvent) error {
	const op = "record audit event"
	if err := e.Validate(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	e = e.Capped()
	if e.ID.IsZero() {
		e.ID = gatehouse.NewID()
	}
	if e.Time.IsZero() {
		e.Time = s.db.now()
	}
	attrs, err := encodeAttrs(e.Attrs)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if _, err := s.db.write.ExecContext(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID.String(), micros(e.Time), string(e.Event),
		optionalText(e.UserID), optionalText(e.ActorID), e.IP, e.UserAgent,
		string(e.Outcome), e.Detail, attrs); err != nil {
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
	// Only the conditions f sets go into the statement: "? = '' OR
	// user_id = ?" would keep SQLite from using the index.
	var (
		conds []string
		args  []any
	)
	if !f.UserID.IsZero() {
		conds, args = append(conds, "user_id = ?"), append(args, f.UserID.String())
	}
	if f.Event != "" {
		conds, args = append(conds, "event = ?"), append(args, string(f.Event))
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "occurred_at >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "occurred_at < ?"), append(args, micros(f.Until))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}

	// One read transaction, so the count and the page see the same
	// snapshot.
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_events`+where, args...).Scan(&total); err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_events`+where+`
		ORDER BY occurred_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, offset)...)
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
	return events, total, nil
}

// PruneAuditEvents implements gatehouse.AuditStore, deleting in batches of
// pruneBatch, each its own transaction, so that other writers get their
// turn in between. When ctx ends between batches, the events already
// deleted are counted and the error says why it stopped.
func (s *AuditStore) PruneAuditEvents(ctx context.Context, before time.Time) (int, error) {
	const op = "prune audit events"
	total := 0
	for {
		res, err := s.db.write.ExecContext(ctx, `DELETE FROM audit_events WHERE rowid IN
			(SELECT rowid FROM audit_events WHERE occurred_at < ? LIMIT ?)`, micros(before), pruneBatch)
		if err != nil {
			return total, s.db.fail(ctx, op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.db.fail(ctx, op, err)
		}
		total += int(n)
		if n < pruneBatch {
			return total, nil
		}
	}
}

// encodeAttrs gives the JSON object stored for attrs; nil stores {}.
func encodeAttrs(attrs map[string]string) (string, error) {
	if attrs == nil {
		return "{}", nil
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return "", fmt.Errorf("encode attrs: %w", err)
	}
	return string(b), nil
}

func scanAuditEvent(sc scanner) (gatehouse.AuditEvent, error) {
	var (
		e                                   gatehouse.AuditEvent
		id, userID, actorID, event, outcome string
		attrs                               string
		at                                  int64
	)
	if err := sc.Scan(&id, &at, &event, &userID, &actorID, &e.IP, &e.UserAgent, &outcome, &e.Detail, &attrs); err != nil {
		return e, err
	}
	var err error
	if e.ID, err = gatehouse.ParseID(id); err != nil {
		return e, fmt.Errorf("stored id %q: %w", id, err)
	}
	if e.UserID, err = optionalID(userID); err != nil {
		return e, fmt.Errorf("audit event %s: stored user id %q: %w", id, userID, err)
	}
	if e.ActorID, err = optionalID(actorID); err != nil {
		return e, fmt.Errorf("audit event %s: stored actor id %q: %w", id, actorID, err)
	}
	if err := json.Unmarshal([]byte(attrs), &e.Attrs); err != nil {
		return e, fmt.Errorf("audit event %s: stored attrs: %w", id, err)
	}
	if len(e.Attrs) == 0 {
		e.Attrs = nil
	}
	e.Time = fromMicros(at)
	e.Event, e.Outcome = gatehouse.AuditEventType(event), gatehouse.AuditOutcome(outcome)
	return e, nil
}

// optionalText and optionalID store an id that may be unknown (zero) as
// the empty string.
func optionalText(id gatehouse.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

func optionalID(s string) (gatehouse.ID, error) {
	if s == "" {
		return gatehouse.ID{}, nil
	}
	return gatehouse.ParseID(s)
}
