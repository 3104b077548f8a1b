package messaging

import "context"

// HoldStatusCommits takes every free committer slot, as batches in flight
// would, so that status callbacks queue up; release hands the queue to one
// committer, which takes it as a single batch. queued says how many wait.
func (s *Service) HoldStatusCommits() (release func(), queued func() int) {
	c := &s.statuses
	c.mu.Lock()
	held := statusCommitters - c.running
	c.running = statusCommitters
	c.mu.Unlock()
	release = func() {
		c.mu.Lock()
		c.running -= held - 1 // the last slot goes to the committer below
		c.mu.Unlock()
		s.commitStatuses(context.Background())
	}
	queued = func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.queue)
	}
	return release, queued
}
