package idcotel_test

import (
	"context"
	"sync"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// memExporter keeps a copy of every log record the SDK exports.
type memExporter struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (e *memExporter) Export(_ context.Context, records []sdklog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range records {
		e.records = append(e.records, r.Clone())
	}
	return nil
}

func (*memExporter) Shutdown(context.Context) error   { return nil }
func (*memExporter) ForceFlush(context.Context) error { return nil }

func (e *memExporter) all() []sdklog.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]sdklog.Record(nil), e.records...)
}

// fixedClock gives every entry the same time, so two runs' JSON lines can
// be compared byte for byte.
type fixedClock struct{}

func (fixedClock) Now() time.Time                         { return time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC) }
func (fixedClock) NewTicker(d time.Duration) *time.Ticker { return time.NewTicker(d) }
