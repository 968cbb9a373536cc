package idcotel_test

import (
	"context"
	"reflect"
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

// ctxProcessor keeps the context of every record the SDK emits.
type ctxProcessor struct {
	mu   sync.Mutex
	ctxs []context.Context
}

func (p *ctxProcessor) OnEmit(ctx context.Context, _ *sdklog.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctxs = append(p.ctxs, ctx)
	return nil
}

func (*ctxProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (*ctxProcessor) Shutdown(context.Context) error                         { return nil }
func (*ctxProcessor) ForceFlush(context.Context) error                       { return nil }

func (p *ctxProcessor) all() []context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]context.Context(nil), p.ctxs...)
}

// reach walks the values a context refers to, apart from the caller's own
// context (and what it holds), noting the types and texts it meets. Its
// reflection reads unexported fields, which is what "holds nothing
// internal" has to be checked against.
type reach struct {
	stop  uintptr
	seen  map[reachKey]bool
	types map[reflect.Type]bool
	strs  []string
}

type reachKey struct {
	p   uintptr
	typ reflect.Type
}

func newReach(caller context.Context) *reach {
	return &reach{stop: reflect.ValueOf(caller).Pointer(), seen: map[reachKey]bool{}, types: map[reflect.Type]bool{}}
}

func (r *reach) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		k := reachKey{v.Pointer(), v.Type()}
		if v.IsNil() || k.p == r.stop || r.seen[k] {
			return
		}
		r.seen[k] = true
		r.types[v.Type()] = true
		r.walk(v.Elem())
	case reflect.Interface:
		if !v.IsNil() {
			r.walk(v.Elem())
		}
	case reflect.Struct:
		r.types[v.Type()] = true
		for i := range v.NumField() {
			r.walk(v.Field(i))
		}
	case reflect.Map:
		r.types[v.Type()] = true
		for it := v.MapRange(); it.Next(); {
			r.walk(it.Key())
			r.walk(it.Value())
		}
	case reflect.Slice, reflect.Array:
		r.types[v.Type()] = true
		if v.Type().Elem().Kind() == reflect.Uint8 && v.Len() > 0 {
			r.strs = append(r.strs, string(v.Bytes()))
			return
		}
		for i := range v.Len() {
			r.walk(v.Index(i))
		}
	case reflect.String:
		if v.Len() > 0 {
			r.strs = append(r.strs, v.String())
		}
	}
}
