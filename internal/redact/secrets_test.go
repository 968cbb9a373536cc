package redact

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsSecretName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"api_key", "ApiKey", "x-api-key", "key", "token", "access_token", "id_token", "secret",
		"client_secret", "password", "passwd", "signature", "sig", "Authorization", "Proxy-Authorization", "authorization",
		"X-Auth-Token", "Cookie", "Set-Cookie", "session", "_key_", strings.Repeat("x", 100) + "token",
		// A name with key, token, secret or auth as one of its words.
		"X-IdentityCall-Key", "x-identitycall-key", "IdentityCallKey", "XIdentityCallKEY", "identitycall.key",
		"X-Access-Key-Id", "private_key", "X-Secret-Value", "X-Auth", "X-Auth-User", "Auth-Id", "X-Authentication",
		"Sec-WebSocket-Key", "X-Keys", "api_tokens", "X-Secrets", strings.Repeat("x-", 100) + "key"} {
		assert.True(t, IsSecretName(name), name)
	}
	for _, name := range []string{"page", "per_page", "keyboard", "monkey", "external_id", "language", "project_id",
		"phone_number", strings.Repeat("x", 100) + "key", "", "Keep-Alive", "X-Request-ID", "Author", "X-Monkey-Id",
		"Accept", "keystone", "tokenizer", "secretary", "authority",
		// An idempotency key names a request, as a request ID does; it
		// grants nothing, and a server's "key already used" must show it.
		"Idempotency-Key", "X-Idempotency-Key", "idempotency_key"} {
		assert.False(t, IsSecretName(name), name)
	}
}

func TestAppendSecrets(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest("GET", "https://bob:hunter%2022@h/x?token=tok123&page=2&sig=a&Api-Key=k%2Bey;secret=s3cr3t", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer opaque-oauth-token")
	req.Header["x-api-key"] = []string{"k3y-value"} // any spelling
	req.Header.Set("Proxy-Authorization", "Basic Ym9iOnByb3h5cGFzcw==")
	req.Header.Set("Cookie", "session=s3ss10n; theme=dark")
	req.Header.Set("Accept", "application/json")
	got := AppendSecrets(nil, req)
	assert.Subset(t, got, []string{"opaque-oauth-token", "k3y-value", "Ym9iOnByb3h5cGFzcw==", "proxypass", "s3ss10n", "dark",
		"hunter 22", "hunter+22", "hunter%2022", "tok123", "k%2Bey", "k+ey", "s3cr3t"})
	for _, s := range got {
		assert.GreaterOrEqual(t, len(s), MinSecretLen, "%q", s)
	}
	assert.NotContains(t, got, "application/json")
	assert.NotContains(t, got, "2")

	var stack [4]string
	assert.Empty(t, AppendSecrets(stack[:0], &http.Request{}), "a request without secrets, or URL")
}

func TestAppendSecretsOfCredentials(t *testing.T) {
	t.Parallel()
	basic := func(userpass string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(userpass)) }
	tests := []struct {
		name   string
		url    string
		header http.Header
		want   []string
	}{
		{"basic user name", "https://h/x", http.Header{"Authorization": {basic("tok-in-user:")}}, []string{"tok-in-user"}},
		{"basic user and password", "https://h/x", http.Header{"Authorization": {basic("alice-user:pa55-word")}},
			[]string{"alice-user", "pa55-word"}},
		{"basic unpadded", "https://h/x", http.Header{"Authorization": {"Basic " + base64.RawStdEncoding.EncodeToString([]byte("user-name1:p"))}},
			[]string{"user-name1"}},
		{"URL user name", "https://tok%40en-user@h/x", nil, []string{"tok@en-user", "tok%40en-user"}},
		{"bearer and a tab", "https://h/x", http.Header{"Authorization": {"Bearer\topaque-token"}}, []string{"opaque-token"}},
		{"bearer and blanks", "https://h/x", http.Header{"Authorization": {"Bearer \t  opaque-token "}}, []string{"opaque-token"}},
		{"a header named key", "https://h/x", http.Header{"X-Identitycall-Key": {"v4lue-of-key"}}, []string{"v4lue-of-key"}},
		{"key body", "https://h/x", http.Header{"Authorization": {"Bearer " + testKey}}, []string{testKey, testKey[4:]}},
		{"key body in a query", "https://h/x?api_key=" + testKey, nil, []string{testKey, testKey[4:]}},
		{"key body in a basic password", "https://h/x", http.Header{"Authorization": {basic("u:" + testKey)}},
			[]string{testKey, testKey[4:]}},
	}
	for _, tt := range tests {
		req, err := http.NewRequest("GET", tt.url, nil)
		require.NoError(t, err, tt.name)
		for k, v := range tt.header {
			req.Header[k] = v
		}
		got := AppendSecrets(nil, req)
		assert.Subset(t, got, tt.want, tt.name)
		assert.NotContains(t, got, "Bearer", tt.name)
	}
}
