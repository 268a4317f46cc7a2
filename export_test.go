package connectjwt

import (
	"context"
	"time"
)

// NewMemoryStoreAt returns a MemoryStore on the clock now, for tests.
func NewMemoryStoreAt(now func() time.Time) *MemoryStore { return &MemoryStore{now: now} }

// RevokedFunc is a RevocationStore whose IsRevoked calls the function and
// whose writes do nothing, for tests.
type RevokedFunc func(ctx context.Context, c *Claims) (bool, error)

func (f RevokedFunc) IsRevoked(ctx context.Context, c *Claims) (bool, error) { return f(ctx, c) }

func (RevokedFunc) RevokeToken(context.Context, string, time.Time) error { return nil }

func (RevokedFunc) RevokeIdentity(context.Context, string, time.Time, time.Time) error { return nil }
