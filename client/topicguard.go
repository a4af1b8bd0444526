package client

import (
	"errors"
	"os"

	"mk/coord"
)

// topicGuard notices that the topic a producer or consumer uses was
// deleted under it, or deleted and created again: then the records it
// holds or waits for belong to a topic that no longer exists, and it must
// say so rather than wait for a commit or a record that cannot come.
//
// It is cheap enough to ask before every append and every wait: coord
// replaces a topic's file on every write, so while the file at the
// topic's path is the one last read (same inode, size and modification
// time) the topic is the same one, and check costs one stat.
type topicGuard struct {
	name  string
	doing string      // "consuming", "producing to": for the message
	id    string      // the topic id the client started with ("" until known)
	file  os.FileInfo // the file id was last confirmed from
}

func newTopicGuard(name, doing string) *topicGuard {
	return &topicGuard{name: name, doing: doing}
}

// saw records the topic as the client read it: the first id seen is the
// topic the client uses. It returns the deleted error if t is another
// topic of the same name.
func (g *topicGuard) saw(t *coord.Topic) error {
	if g.id == "" {
		g.id = t.ID
	}
	if t.ID != g.id {
		return g.deleted(true)
	}
	return nil
}

// lookupErr turns the error of reading the topic into the deleted error
// once the client had seen the topic.
func (g *topicGuard) lookupErr(err error) error {
	if g.id != "" && errors.Is(err, coord.ErrUnknownTopic) && !errors.Is(err, ErrTopicDeleted) {
		return g.deleted(false)
	}
	return err
}

func (g *topicGuard) deleted(recreated bool) error {
	if recreated {
		return newError(ErrTopicDeleted, "topic %s was deleted and created again while %s it", g.name, g.doing)
	}
	return newError(ErrTopicDeleted, "topic %s was deleted while %s it", g.name, g.doing)
}

// check returns ErrTopicDeleted if the topic is gone or is another topic
// now. It re-reads the topic only when its file changed, and returns the
// topic it read (nil when it did not read it). An unreadable topic file
// (damaged, or caught between writes) is not a deletion: the client goes
// on, and the next check reads it again.
func (g *topicGuard) check(c *coord.Cluster) (*coord.Topic, error) {
	fi, serr := os.Stat(c.TopicPath(g.name))
	if serr == nil && g.file != nil && sameFile(fi, g.file) {
		return nil, nil
	}
	t, err := c.Topic(g.name)
	if err != nil {
		if errors.Is(err, coord.ErrUnknownTopic) {
			return nil, g.lookupErr(err)
		}
		return nil, nil
	}
	if err := g.saw(t); err != nil {
		return nil, err
	}
	if serr == nil {
		g.file = fi // stat before the read: a write in between is seen next time
	}
	return t, nil
}

// sameFile: the same file, unchanged. An inode number can be reused by
// the next file created, so the size and modification time must match too.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
