package idctest

import (
	"time"

	"go.uber.org/zap"
)

// An Option configures a [Server].
type Option interface {
	apply(*Server)
}

type optionFunc func(*Server)

func (f optionFunc) apply(s *Server) { f(s) }

// WithRateLimit allows each key n requests per window of length per. The
// service counts its quota per account; the simulator counts it per key,
// each key standing for an account of its own. A key's window starts with
// its first request and, once it has ended, with the next one. A request past the n-th in a window gets 429 with
// retry_after and a Retry-After header asking for the time until the window
// ends: in whole seconds, rounded up, as the API does, when per is a second
// or more; to the nanosecond, as a fraction of a second, when per is
// shorter, so that a test need not wait a real second. (A fraction in
// Retry-After is not standard HTTP; idctrace reads it.) A request sent
// after that wait is admitted, unless the same key's other requests have
// used up the new window first. The default is no limit; n or per of zero
// or less keeps it.
func WithRateLimit(n int, per time.Duration) Option {
	return optionFunc(func(s *Server) {
		if n > 0 && per > 0 {
			s.limit, s.window = n, per
		}
	})
}

// WithProcessingTime makes each recording's transcription complete d after
// its upload, by the server's clock (see [WithClock]): from then on the
// recording's status is "completed" and its transcription, results and
// summary answer, with the text [ProcessedText]. The default, zero or
// less, completes none: only [Server.CompleteTranscription] does.
func WithProcessingTime(d time.Duration) Option {
	return optionFunc(func(s *Server) {
		if d > 0 {
			s.processing = d
		}
	})
}

// WithServiceDefaults makes the server behave as the service does for a
// new account: each key may send 60 requests a minute (the Free plan's
// quota) and each transcription completes 3 seconds after its upload. It is
// what `idctrace sim` runs; [WithRateLimit] and [WithProcessingTime] after
// it change either.
func WithServiceDefaults() Option {
	return optionFunc(func(s *Server) {
		WithRateLimit(60, time.Minute).apply(s)
		WithProcessingTime(3 * time.Second).apply(s)
	})
}

// WithMaxUploadBytes sets the largest upload accepted: compressed for MP3,
// M4A, OGG and WebM, lossless for WAV and FLAC. A larger file gets 422
// "File too large". The defaults are the documented [DefaultMaxUploadBytes]
// and [DefaultMaxLosslessUploadBytes]; zero or less keeps one. A test can
// then check the limit without sending 100 MB.
func WithMaxUploadBytes(compressed, lossless int64) Option {
	return optionFunc(func(s *Server) {
		if compressed > 0 {
			s.maxUpload = compressed
		}
		if lossless > 0 {
			s.maxLossless = lossless
		}
	})
}

// WithClock makes the server read the time from now instead of
// [time.Now]: rate-limit windows, processing times and created_at times
// follow it, so a test can move past a window without sleeping. now must be safe for concurrent
// use; nil keeps the default.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(s *Server) {
		if now != nil {
			s.now = now
		}
	})
}

// WithLogger makes the server log one Info entry per request, with its
// request ID, method, path (keys masked), status and error: the server side
// of the correlation a support engineer makes. nil, the default, logs
// nothing.
func WithLogger(l *zap.Logger) Option {
	return optionFunc(func(s *Server) {
		if l != nil {
			s.log = l
		}
	})
}
