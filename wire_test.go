package idctrace

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanWireTakesTheDocumentedBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want wireError
	}{
		{`{"error":"Resource not found"}`, wireError{Error: "Resource not found"}},
		{` { "errors" : [ "a" , "b" ] } `, wireError{Errors: []string{"a", "b"}}},
		{`{"errors":[]}`, wireError{Errors: []string{}}},
		{`{"error":"Rate limit exceeded","retry_after":60}`, wireError{Error: "Rate limit exceeded", RetryAfter: json.RawMessage("60")}},
		{`{"error":"x","retry_after":"1.5e1","code":-0.5,"ok":false,"n":null}`, wireError{Error: "x", RetryAfter: json.RawMessage(`"1.5e1"`)}},
		{`{"error":5}`, wireError{}},
		{`{}`, wireError{}},
	}
	for _, tt := range tests {
		got, ok := scanWire([]byte(tt.body))
		require.True(t, ok, "the fast path takes %s", tt.body)
		assert.Equal(t, tt.want, got, tt.body)
	}
	for _, body := range []string{
		`{"error":"caf\u00e9"}`, `{"error":"café"}`, `{"Error":"x"}`, `{"errors":null}`, `{"errors":[1]}`,
		`{"detail":{"a":1}}`, `{"error":"x"} trailing`, `[]`, `{"error":01}`, `{"error":"a` + "\n" + `"}`, ``,
	} {
		_, ok := scanWire([]byte(body))
		assert.False(t, ok, "encoding/json decides %q", body)
	}
}

// FuzzDecodeWire holds the fast scanner to encoding/json: whenever it takes
// a body, it must find what encoding/json finds.
func FuzzDecodeWire(f *testing.F) {
	for _, seed := range []string{
		`{"error":"Resource not found"}`, `{"errors":["a","b"]}`, `{"errors":[]}`,
		`{"error":"Rate limit exceeded","retry_after":60}`, `{"error":"x","error":"y"}`,
		`{"error":"x","error":5}`, `{"retry_after":null}`, `{"retry_after":"60"}`, `{"ERROR":"x"}`,
		`{"errors":["a"],"errors":["b","c"]}`, `{"n":-0.0e+1,"t":true}`, `{"error":"x",}`, `{"a":1 "b":2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := scanWire(body)
		if !ok {
			return
		}
		var ref wireError
		err := json.Unmarshal(body, &ref)
		_, typeErr := err.(*json.UnmarshalTypeError)
		require.True(t, err == nil || typeErr, "scanWire took %q, which encoding/json rejects: %v", body, err)
		assert.Equal(t, ref.Error, fast.Error)
		assert.Equal(t, ref.Errors, fast.Errors)
		refWait, refOK := parseSeconds(string(trimQuotes(ref.RetryAfter)))
		fastWait, fastOK := parseSeconds(string(trimQuotes(fast.RetryAfter)))
		assert.Equal(t, refOK, fastOK)
		assert.Equal(t, refWait, fastWait)
	})
}
