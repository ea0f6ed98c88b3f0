package session

// chain is an intrusive doubly linked list, oldest first: each element
// holds its links, which at returns, so that removing any element is O(1)
// and costs no allocation.
type chain[T any] struct {
	head, tail *T
	at         func(*T) *links[T]
}

type links[T any] struct{ prev, next *T }

// push appends x, which is in no chain of this kind.
func (c *chain[T]) push(x *T) {
	l := c.at(x)
	l.prev, l.next = c.tail, nil
	if c.tail != nil {
		c.at(c.tail).next = x
	} else {
		c.head = x
	}
	c.tail = x
}

// remove takes x, which is in c, out of it.
func (c *chain[T]) remove(x *T) {
	l := c.at(x)
	if l.prev != nil {
		c.at(l.prev).next = l.next
	} else {
		c.head = l.next
	}
	if l.next != nil {
		c.at(l.next).prev = l.prev
	} else {
		c.tail = l.prev
	}
	l.prev, l.next = nil, nil
}

func connPending(c *serverConn) *links[serverConn]           { return &c.pending }
func sessDetached(s *serverSession) *links[serverSession]    { return &s.detached }
func sessSrcDetached(s *serverSession) *links[serverSession] { return &s.srcDetached }
