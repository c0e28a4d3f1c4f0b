package sqlite_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

func TestMFAStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestMFAStore(t, func(t *testing.T, now func() time.Time) (gatehousetest.MFAStores, gatehouse.UserStore) {
		db := sqlitetest.New(t)
		db.Now = now
		s := sqlite.NewMFAStore(db)
		return gatehousetest.MFAStores{TOTP: s, Recovery: s, Passkeys: s, Challenges: s, Sweep: s.Sweep},
			sqlite.NewUserStore(db)
	})
}
