package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/subscription"
)

var _ gatehouse.ChangeFeed = (*ChangeFeed)(nil)

// changeChannel is the NOTIFY channel of every feed. Notifications stay
// within one database, so applications (and tests) on databases of their
// own do not hear each other.
const changeChannel = "gatehouse_changes"

// maxPayload is the longest payload NOTIFY takes in PostgreSQL's default
// configuration: "shorter than 8000 bytes".
const maxPayload = 7999

// ChangeFeed carries gatehouse.Changes over PostgreSQL LISTEN/NOTIFY, on
// the channel gatehouse_changes of the DB's database. Payloads are
// Change.String().
//
// NOTIFY keeps nothing for a listener that is not connected: a change
// published while a listener is reconnecting is lost to it, which is why
// Listen reports up(false) as soon as it cannot vouch for its connection.
type ChangeFeed struct {
	// Heartbeat bounds how long a dead connection goes unnoticed. A
	// listener that has heard nothing for Heartbeat pings the server and
	// reports the feed down if the answer has not come one Heartbeat
	// later, so a connection that died without closing (a half-open TCP
	// connection after a network partition, a frozen server) is noticed
	// within about 2×Heartbeat. A closed connection is noticed at once.
	// Zero means one second.
	Heartbeat time.Duration

	// Logger receives outages (warn) and malformed notifications (debug).
	// Nil means slog.Default().
	Logger *slog.Logger

	db *DB
}

// NewChangeFeed returns a ChangeFeed on db's database. Set its fields
// before calling Listen.
func NewChangeFeed(db *DB) *ChangeFeed { return &ChangeFeed{db: db} }

func (f *ChangeFeed) heartbeat() time.Duration {
	if f.Heartbeat > 0 {
		return f.Heartbeat
	}
	return time.Second
}

func (f *ChangeFeed) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// Publish implements gatehouse.ChangeFeed: one statement notifies every
// change, in order, in one transaction, so listeners get all of them or
// none. PostgreSQL delivers identical notifications of one transaction
// once, which is all a cache that drops entries needs.
//
// A change NOTIFY cannot carry (8000 bytes or more, invalid UTF-8, a NUL
// byte) is a CodeBadRequest error, and then nothing is published. An error
// reaching the database is CodeUnavailable.
func (f *ChangeFeed) Publish(ctx context.Context, changes ...gatehouse.Change) error {
	const op = "publish changes"
	if len(changes) == 0 {
		return nil
	}
	payloads := make([]string, len(changes))
	for i, c := range changes {
		s := c.String()
		if len(s) > maxPayload || !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return &gatehouse.Error{Code: gatehouse.CodeBadRequest, Err: fmt.Errorf(
				"postgres: %s: a %q change of %d bytes: NOTIFY takes valid UTF-8 without NUL bytes, shorter than 8000 bytes",
				op, c.Kind, len(s))}
		}
		payloads[i] = s
	}
	// Since PostgreSQL 9.6, volatile functions of a SELECT list run after
	// its ORDER BY: the notifications are queued in the order given.
	_, err := f.db.pool.Exec(ctx,
		`SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i`,
		changeChannel, payloads)
	if err != nil {
		return f.db.fail(ctx, op, err)
	}
	return nil
}

// Listen implements gatehouse.ChangeFeed. It takes a connection out of the
// pool for good (it no longer counts against the pool's size) and reports
// up(true) once LISTEN has run on it. When the connection fails, or a ping
// goes unanswered for a Heartbeat, it reports up(false), once per outage,
// closes the connection and listens again on a new one after a pause that
// grows from 50 ms to 2 s, reporting up(true) when LISTEN has run.
// Notifications that are not a Change are skipped.
func (f *ChangeFeed) Listen(ctx context.Context, changed func(gatehouse.Change), up func(bool)) error {
	return subscription.Keep(ctx, func(ctx context.Context, listening func()) error {
		return f.listen(ctx, changed, listening)
	}, up, func(err error) {
		f.logger().LogAttrs(ctx, slog.LevelWarn, "postgres: change feed down; changes may be missed until it is up again",
			slog.Any("error", err))
	})
}

// listen listens on one connection and delivers notifications until the
// connection fails or ctx ends.
func (f *ChangeFeed) listen(ctx context.Context, changed func(gatehouse.Change), listening func()) error {
	heartbeat := f.heartbeat()
	pc, err := f.db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: listen for changes: %w", err)
	}
	// The connection leaves the pool: LISTEN belongs to the session, and
	// must neither stay on a pooled connection nor hold one of its slots.
	conn := pc.Hijack()
	defer func() {
		// A dead server must not hold up the return: Close's goodbye gets
		// a second at most, and then the socket is closed anyway.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // the connection is given up either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+changeChannel); err != nil {
		return fmt.Errorf("postgres: listen for changes: %w", err)
	}
	listening()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, heartbeat)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case subscription.Ended(ctx):
			return ctx.Err()
		case err == nil:
			c, perr := gatehouse.ParseChange(n.Payload)
			if n.Channel != changeChannel || perr != nil {
				f.logger().LogAttrs(ctx, slog.LevelDebug, "postgres: change feed: skipped a notification that is not a change",
					slog.String("channel", n.Channel), slog.Int("length", len(n.Payload)))
				continue
			}
			changed(c)
		case pgconn.Timeout(err):
			// Quiet for a heartbeat: make sure the server is still there.
			// Notifications arriving meanwhile are kept by pgx for the
			// next wait.
			pingCtx, cancel := context.WithTimeout(ctx, heartbeat)
			err := conn.Ping(pingCtx)
			cancel()
			if subscription.Ended(ctx) {
				return ctx.Err()
			}
			if err != nil {
				return fmt.Errorf("postgres: listen for changes: heartbeat: %w", err)
			}
		default:
			return fmt.Errorf("postgres: listen for changes: %w", err)
		}
	}
}
