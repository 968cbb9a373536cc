package idctest

import (
	"crypto/rand"
	"fmt"
	"time"
)

// DefaultAccount is the account of the keys that [Server.NewKey] makes.
const DefaultAccount = "default"

// A Permission is what an API key may do.
type Permission string

// The permissions of an API key. Each endpoint asks for the one its
// documentation names: reads need Read, most writes Write, and deleting a
// recording or a project Delete.
const (
	Read   Permission = "read"
	Write  Permission = "write"
	Delete Permission = "delete"
)

// apiKey is a key's account, scope and permissions, and its rate-limit
// window.
type apiKey struct {
	account string
	project int // 0 for an account-wide key
	perms   map[Permission]bool
	revoked bool
	expired bool

	windowStart time.Time
	used        int
}

// sees reports whether k may see a resource of account in project (0 when
// it belongs to none).
func (k *apiKey) sees(account string, project int) bool {
	return account == k.account && (k.project == 0 || k.project == project)
}

// NewKey returns a new account-wide key of [DefaultAccount] with perms:
// "idc_" followed by 32 letters and digits.
func (s *Server) NewKey(perms ...Permission) string {
	return s.NewAccountKey(DefaultAccount, perms...)
}

// NewAccountKey returns a new account-wide key of the named account with
// perms. Keys of different accounts see different resources.
func (s *Server) NewAccountKey(account string, perms ...Permission) string {
	return s.addKey(&apiKey{account: account}, perms)
}

// NewProjectKey returns a new key scoped to the project with projectID, the
// project's ID as the API returns it, in the project's account ([DefaultAccount]
// when no such project exists yet), with perms. Such a key sees only that
// project and what belongs to it: other projects' resources are 404, a
// project_id not its own is 403, and creating or deleting a project is
// 403. It panics when projectID is not positive.
func (s *Server) NewProjectKey(projectID int, perms ...Permission) string {
	if projectID <= 0 {
		panic(fmt.Sprintf("idctest: NewProjectKey: project ID %d is not positive", projectID))
	}
	s.mu.Lock()
	account := DefaultAccount
	if p, ok := s.data.projects[projectID]; ok {
		account = p.account
	}
	s.mu.Unlock()
	return s.addKey(&apiKey{account: account, project: projectID}, perms)
}

func (s *Server) addKey(k *apiKey, perms []Permission) string {
	k.perms = make(map[Permission]bool, len(perms))
	for _, p := range perms {
		k.perms[p] = true
	}
	key := "idc_" + randomAlphanumerics(32)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = k
	return key
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlphanumerics(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphanumerics[int(b[i])%len(alphanumerics)] // a slight bias is fine for a simulator
	}
	return string(b)
}

// RevokeKey makes key fail with 401 from now on.
func (s *Server) RevokeKey(key string) { s.setKey(key, func(k *apiKey) { k.revoked = true }) }

// ExpireKey makes key fail with 401 from now on, as an expired key does.
func (s *Server) ExpireKey(key string) { s.setKey(key, func(k *apiKey) { k.expired = true }) }

func (s *Server) setKey(key string, f func(*apiKey)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[key]; ok {
		f(k)
	}
}
