package messaging

import (
	"context"
	"sync"
	"time"
)

// background tracks work started after a request was answered (keyword
// answers), so shutdown can wait for it before closing the database.
type background struct {
	wg sync.WaitGroup
}

// Go runs f after the request that started it has been answered, with its
// own deadline; Wait waits for every such f.
func (s *Service) Go(timeout time.Duration, f func(ctx context.Context)) {
	s.bg.wg.Add(1)
	go func() {
		defer s.bg.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		f(ctx)
	}()
}

// Wait waits for background work to end, or for ctx.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.bg.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
