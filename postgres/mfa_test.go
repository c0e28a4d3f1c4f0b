package postgres_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

func TestMFAStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestMFAStore(t, func(t *testing.T, now func() time.Time) (gatehousetest.MFAStores, gatehouse.UserStore) {
		db := postgrestest.New(t)
		db.Now = now
		s := postgres.NewMFAStore(db)
		return gatehousetest.MFAStores{TOTP: s, Recovery: s, Passkeys: s, Challenges: s, Sweep: s.Sweep},
			postgres.NewUserStore(db)
	})
}
