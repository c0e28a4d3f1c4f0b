package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/subscription"
)

var _ gatehouse.ChangeFeed = (*ChangeFeed)(nil)

// ChangeFeed carries gatehouse.Changes over Redis pub/sub, on the channel
// <prefix>changes: the DB's prefix keeps applications (and tests) sharing
// a server apart. Messages are Change.String(); Redis Cluster broadcasts
// them to every node, so listeners may subscribe anywhere.
//
// Pub/sub keeps nothing: a change published while a listener is
// disconnected is lost to it, which is why Listen reports up(false) as soon
// as it cannot vouch for its subscription.
type ChangeFeed struct {
	// Heartbeat bounds how long a dead connection goes unnoticed. A
	// listener that has heard nothing for Heartbeat pings the server and
	// reports the feed down if the pong has not come one Heartbeat later,
	// so a connection that died without closing (a half-open TCP
	// connection after a network partition, a frozen server) is noticed
	// within about 2×Heartbeat. A closed connection is noticed at once.
	// Zero means one second.
	Heartbeat time.Duration

	// Logger receives outages (warn) and malformed messages (debug). Nil
	// means slog.Default().
	Logger *slog.Logger

	db *DB
}

// NewChangeFeed returns a ChangeFeed on db's server and prefix. Set its
// fields before calling Listen.
func NewChangeFeed(db *DB) *ChangeFeed { return &ChangeFeed{db: db} }

// channel is the pub/sub channel of the DB's prefix.
func (f *ChangeFeed) channel() string { return f.db.Prefix + "changes" }

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

// Publish implements gatehouse.ChangeFeed with one PUBLISH per change,
// pipelined on one connection, so they arrive in order. On a Cluster they
// all go to the master of the channel's slot: go-redis would spread
// PUBLISH, which names no key, over the nodes, and each node broadcasts
// what it gets on its own, so order would be lost.
//
// An error is CodeUnavailable when Redis could not be reached; some
// changes may have been published anyway, and a retried pipeline may
// publish some twice, which is harmless to caches that only drop entries.
func (f *ChangeFeed) Publish(ctx context.Context, changes ...gatehouse.Change) error {
	const op = "publish changes"
	if len(changes) == 0 {
		return nil
	}
	channel := f.channel()
	var client goredis.Cmdable = f.db.client
	if cc, ok := f.db.client.(*goredis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, channel)
		if err != nil {
			return f.db.fail(ctx, op, err)
		}
		client = node
	}
	var err error
	if len(changes) == 1 {
		err = client.Publish(ctx, channel, changes[0].String()).Err()
	} else {
		_, err = client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, c := range changes {
				p.Publish(ctx, channel, c.String())
			}
			return nil
		})
	}
	if err != nil {
		return f.db.fail(ctx, op, err)
	}
	return nil
}

// Listen implements gatehouse.ChangeFeed. It subscribes on a connection of
// its own and reports up(true) once Redis confirms the subscription. When
// the connection fails, or a ping goes unanswered for a Heartbeat, it
// reports up(false), once per outage, and subscribes again on a new
// connection after a pause that grows from 50 ms to 2 s, reporting
// up(true) when that is confirmed. Messages that are not a Change are
// skipped.
func (f *ChangeFeed) Listen(ctx context.Context, changed func(gatehouse.Change), up func(bool)) error {
	return subscription.Keep(ctx, func(ctx context.Context, confirmed func()) error {
		return f.listen(ctx, changed, confirmed)
	}, up, func(err error) {
		f.logger().LogAttrs(ctx, slog.LevelWarn, "redis: change feed down; changes may be missed until it is up again",
			slog.String("channel", f.channel()), slog.Any("error", err))
	})
}

// errNoPong is why a subscription is given up when the server stays
// silent.
var errNoPong = errors.New("no answer to a ping within the heartbeat")

// listen subscribes once and delivers messages until the subscription
// fails or ctx ends. go-redis would reconnect a broken subscription by
// itself, silently; a fresh one for every attempt is what lets Listen
// report each outage and each recovery.
func (f *ChangeFeed) listen(ctx context.Context, changed func(gatehouse.Change), confirmed func()) error {
	channel, heartbeat := f.channel(), f.heartbeat()
	ps := f.db.client.Subscribe(ctx)  // no channel yet: Subscribe below reports errors, this would not
	defer func() { _ = ps.Close() }() // may be closed already by the AfterFunc
	// go-redis reads do not watch the context; closing the subscription
	// ends a blocked read at once.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() }) // the read it ends reports the error
	defer stop()
	if err := ps.Subscribe(ctx, channel); err != nil {
		return fmt.Errorf("redis: subscribe: %w", err)
	}
	pinged := false // a ping is unanswered
	for {
		msg, err := ps.ReceiveTimeout(ctx, heartbeat)
		if subscription.Ended(ctx) {
			return ctx.Err()
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return fmt.Errorf("redis: receive changes: %w", err)
			}
			if pinged {
				return fmt.Errorf("redis: receive changes: %w", errNoPong)
			}
			if err := ps.Ping(ctx); err != nil {
				return fmt.Errorf("redis: receive changes: ping: %w", err)
			}
			pinged = true
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" && m.Channel == channel {
				confirmed()
			}
		case *goredis.Pong:
			pinged = false
		case *goredis.Message:
			c, err := gatehouse.ParseChange(m.Payload)
			if m.Channel != channel || err != nil {
				f.logger().LogAttrs(ctx, slog.LevelDebug, "redis: change feed: skipped a message that is not a change",
					slog.String("channel", m.Channel), slog.Int("length", len(m.Payload)))
				continue
			}
			changed(c)
		}
	}
}
