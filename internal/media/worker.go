package media

import (
	"context"
	"time"
)

// Enqueue asks for the attachments of an inbound message to be fetched. It
// never blocks: when the queue is full (or Run is not running) the sweep
// fetches them within a minute or two instead.
func (s *Service) Enqueue(messageID int64) {
	s.init()
	s.mu.Lock()
	if s.pending[messageID] {
		s.mu.Unlock()
		return
	}
	s.pending[messageID] = true
	s.mu.Unlock()
	select {
	case s.queue <- messageID:
	default:
		s.done(messageID)
		s.Log.Warn("media: fetch queue full; the sweep will fetch it", "message_id", messageID)
	}
}

func (s *Service) done(messageID int64) {
	s.mu.Lock()
	delete(s.pending, messageID)
	s.mu.Unlock()
}

// Run fetches queued messages' attachments with Workers workers and, every
// minute, sweeps for inbound messages of the last 7 days whose attachments
// are still missing (a crash, a full queue, a failure due for another try)
// and removes uploads never attached to a message after a day. It returns
// when ctx ends. Several instances may run it: storing a file locks its
// message and checks it is still missing.
func (s *Service) Run(ctx context.Context) {
	s.init()
	for range s.Workers {
		go s.work(ctx)
	}
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.queue:
			if err := s.FetchInbound(ctx, id); err != nil && ctx.Err() == nil {
				s.Log.Error("media: fetch inbound", "message_id", id, "err", err)
			}
			s.done(id)
		}
	}
}

// sweep queues what the queue missed. Messages younger than settle are left
// to the webhook's Enqueue, so two instances rarely fetch the same file.
func (s *Service) sweep(ctx context.Context) {
	ids, err := s.DB.InboundMediaPending(ctx, s.settle, sweepWindow, cap(s.queue)/2)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Warn("media: sweep", "err", err)
		}
		return
	}
	for _, id := range ids {
		s.Enqueue(id)
	}
	if n, err := s.DB.DeleteUnattachedUploads(ctx, 24*time.Hour); err != nil {
		if ctx.Err() == nil {
			s.Log.Warn("media: delete unattached uploads", "err", err)
		}
	} else if n > 0 {
		s.Log.Info("media: deleted uploads never sent", "files", n)
	}
}
