package sqlite_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

func TestAuditStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestAuditStore(t, func(t *testing.T, now func() time.Time) gatehouse.AuditStore {
		db := sqlitetest.New(t)
		db.Now = now
		return sqlite.NewAuditStore(db)
	})
}

// Pruning more events than one batch deletes them all, across batches.
func TestPruneAuditEventsBatches(t *testing.T) {
	t.Parallel()
	db := sqlitetest.New(t)
	audit := sqlite.NewAuditStore(db)
	const n = 2500
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := gatehouse.AuditEvent{Time: start.Add(time.Duration(i) * time.Second),
			Event: gatehouse.AuditLoginFailed, Outcome: gatehouse.AuditFailure}
		if err := audit.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := audit.PruneAuditEvents(t.Context(), start.Add(n*time.Second)); err != nil || got != n {
		t.Errorf("PruneAuditEvents = %d, %v; want %d, nil", got, err, n)
	}
}
