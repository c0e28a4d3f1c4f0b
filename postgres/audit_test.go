package postgres_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

func TestAuditStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestAuditStore(t, func(t *testing.T, now func() time.Time) gatehouse.AuditStore {
		db := postgrestest.New(t)
		db.Now = now
		return postgres.NewAuditStore(db)
	})
}

// Pruning more events than one batch deletes them all, across batches.
func TestPruneAuditEventsBatches(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	audit := postgres.NewAuditStore(db)
	const n = 12000
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := db.ExecForTest(t.Context(), `INSERT INTO audit_events (id, occurred_at, event, outcome)
		SELECT gen_random_uuid(), '2024-01-01T00:00:00Z'::timestamptz + i * interval '1 second', 'login.failed', 'failure'
		FROM generate_series(0, 11999) AS i`); err != nil {
		t.Fatal(err)
	}
	if got, err := audit.PruneAuditEvents(t.Context(), start.Add(n*time.Second)); err != nil || got != n {
		t.Errorf("PruneAuditEvents = %d, %v; want %d, nil", got, err, n)
	}
}
