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

// WithRateLimit allows each key n requests per window of length per; the
// next request in the window gets 429 with retry_after and a Retry-After
// header, in whole seconds until the window ends. The default is no limit;
// n or per of zero or less keeps it.
func WithRateLimit(n int, per time.Duration) Option {
	return optionFunc(func(s *Server) {
		if n > 0 && per > 0 {
			s.limit, s.window = n, per
		}
	})
}

// WithRetryAfter makes every 429 of the rate limiter ask for d, in its body's
// retry_after and its Retry-After header, fractions of a second allowed,
// instead of the time left in the window: a test of retries need not wait
// a real second. (A fraction in Retry-After is not standard HTTP; idctrace
// reads it.) Zero or less keeps the default.
func WithRetryAfter(d time.Duration) Option {
	return optionFunc(func(s *Server) {
		if d > 0 {
			s.retryAfter = d
		}
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
// [time.Now]: rate-limit windows and created_at times follow it, so a test
// can move past a window without sleeping. now must be safe for concurrent
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
