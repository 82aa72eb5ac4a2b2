package natstest

import (
	"errors"

	"github.com/nats-io/nats-server/v2/server"
)

// User is a user with a password whose publish and subscribe permissions allow
// only the given subjects (nil: everything), for Secure.Users.
func User(name, password string, publish, subscribe []string) *server.User {
	u := &server.User{Username: name, Password: password}
	if publish != nil || subscribe != nil {
		u.Permissions = &server.Permissions{}
		if publish != nil {
			u.Permissions.Publish = &server.SubjectPermission{Allow: publish}
		}
		if subscribe != nil {
			u.Permissions.Subscribe = &server.SubjectPermission{Allow: subscribe}
		}
	}
	return u
}

// SetUsers replaces the running server's users and their permissions, as an
// operator edits the configuration and reloads it (nats-server --signal reload):
// connected clients keep their connections and get the new permissions.
func (s *Server) SetUsers(users []*server.User) error {
	if s.srv == nil {
		return errors.New("natstest: server not running")
	}
	s.sec.Users = users
	o := s.opts.Clone()
	o.Port = s.Port
	if err := s.sec.apply(o); err != nil {
		return err
	}
	return s.srv.ReloadOptions(o)
}
