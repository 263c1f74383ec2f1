package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Disk is the Log in one bbolt file (DiskFile in a directory), for a single
// process: a second process opening the same directory fails after a few
// seconds, naming it. Appends are group-committed: one writer takes every
// append waiting and stores them in one fsynced transaction, so a lone
// append costs one fsync and many concurrent ones share it.
//
// Buckets: "events" maps the 16-byte id (ms, seq; big-endian, so byte order
// is id order) to the JSON record; "seen" maps a dedupe key to its event's
// id; "meta" holds the last id given and the count kept.
type Disk struct {
	o       Options
	db      *bolt.DB
	path    string
	reqs    chan *diskReq
	closing chan struct{}
	done    chan struct{} // the writer has returned
	once    sync.Once
	n       notifier
}

// DiskFile is the file's name in the directory.
const DiskFile = "events.db"

type diskReq struct {
	ctx context.Context
	e   Event
	key string
	res chan diskRes
}

type diskRes struct {
	stored bool
	err    error
}

var (
	bucketEvents = []byte("events")
	bucketSeen   = []byte("seen")
	bucketMeta   = []byte("meta")
	metaLast     = []byte("last")
	metaCount    = []byte("count")
)

// OpenDisk opens (creating it and dir if needed) the log in dir.
func OpenDisk(dir string, o Options) (*Disk, error) {
	o = o.withDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("events: cannot create %s: %w", dir, err)
	}
	path := filepath.Join(dir, DiskFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 3 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("events: %s is in use by another process: give each process its own directory, or share events through Redis", path)
	}
	if err != nil {
		return nil, fmt.Errorf("events: cannot open %s: %w", path, err)
	}
	d := &Disk{o: o, db: db, path: path, reqs: make(chan *diskReq, 4096), closing: make(chan struct{}), done: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEvents, bucketSeen, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// The stored count; a file without one yet is counted once.
		if v := tx.Bucket(bucketMeta).Get(metaCount); v != nil {
			return d.trim(tx, binary.BigEndian.Uint64(v), o.Now())
		}
		return d.trim(tx, uint64(tx.Bucket(bucketEvents).Stats().KeyN), o.Now())
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("events: %s: %w", path, err)
	}
	go d.writer()
	return d, nil
}

// Path is the file the log is in.
func (d *Disk) Path() string { return d.path }

func idKey(i id) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, i.ms)
	binary.BigEndian.PutUint64(k[8:], i.seq)
	return k
}

func keyID(k []byte) id {
	return id{binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])}
}

// Append implements Log.
func (d *Disk) Append(ctx context.Context, e Event, key string) (bool, error) {
	keep, err := prepare(&e, d.o.Now(), d.o.MaxAge)
	if err != nil || !keep {
		return false, err
	}
	if key != "" { // a repeat is answered without the writer
		key = normKey(key)
		var dup bool
		if err := d.db.View(func(tx *bolt.Tx) error { dup = tx.Bucket(bucketSeen).Get([]byte(key)) != nil; return nil }); err != nil {
			return false, d.err(err)
		}
		if dup {
			return false, nil
		}
	}
	r := &diskReq{ctx: ctx, e: e, key: key, res: make(chan diskRes, 1)}
	select {
	case d.reqs <- r:
	case <-d.closing:
		return false, ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case res := <-r.res:
		return res.stored, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	case <-d.done:
		select {
		case res := <-r.res:
			return res.stored, res.err
		default:
			return false, ErrClosed
		}
	}
}

func (d *Disk) err(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// writer commits the waiting appends, as many as are queued (at most 1000)
// per transaction, until Close; then it commits what was queued and returns.
func (d *Disk) writer() {
	defer close(d.done)
	batch := make([]*diskReq, 0, 1000)
	for {
		select {
		case r := <-d.reqs:
			d.commit(d.drain(append(batch[:0], r)))
		case <-d.closing:
			for {
				if batch = d.drain(batch[:0]); len(batch) == 0 {
					return
				}
				d.commit(batch)
			}
		}
	}
}

// drain adds the queued requests to batch, up to its capacity.
func (d *Disk) drain(batch []*diskReq) []*diskReq {
	for len(batch) < cap(batch) {
		select {
		case r := <-d.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit stores batch in one transaction and answers each request.
func (d *Disk) commit(batch []*diskReq) {
	res := make([]diskRes, len(batch))
	now := d.o.Now()
	err := d.db.Update(func(tx *bolt.Tx) error {
		clear(res)
		evs, seen, meta := tx.Bucket(bucketEvents), tx.Bucket(bucketSeen), tx.Bucket(bucketMeta)
		evs.FillPercent = 1 // ids only grow: fill pages instead of splitting them in half
		var last id
		if v := meta.Get(metaLast); len(v) == 16 {
			last = keyID(v)
		}
		count := binary.BigEndian.Uint64(meta.Get(metaCount))
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				res[i].err = err // its caller has gone: not stored, a retry will be
				continue
			}
			if r.key != "" && seen.Get([]byte(r.key)) != nil {
				continue
			}
			last = last.after(unixMs(now))
			k := idKey(last)
			v, err := json.Marshal(toRecord(r.e, r.key))
			if err != nil {
				res[i].err = err
				continue
			}
			if err := evs.Put(k, v); err != nil {
				return err
			}
			if r.key != "" {
				if err := seen.Put([]byte(r.key), k); err != nil {
					return err
				}
			}
			count++
			res[i].stored = true
		}
		if err := meta.Put(metaLast, idKey(last)); err != nil {
			return err
		}
		return d.trim(tx, count, now)
	})
	stored := false
	for i, r := range batch {
		if err != nil {
			res[i] = diskRes{err: d.err(err)}
		}
		stored = stored || res[i].stored
		r.res <- res[i]
	}
	if stored {
		d.n.broadcast()
	}
}

// trim deletes the oldest events beyond Max or MaxAge, and their dedupe
// keys; at most 1000 per transaction (the next ones catch up). count is
// how many events the bucket holds; trim stores what is left, the one
// write of the count per transaction.
func (d *Disk) trim(tx *bolt.Tx, count uint64, now time.Time) error {
	evs, seen := tx.Bucket(bucketEvents), tx.Bucket(bucketSeen)
	minMs := unixMs(now.Add(-d.o.MaxAge))
	c := evs.Cursor()
	for n := 0; n < 1000; n++ {
		k, v := c.First() // again after each delete: bbolt's Next may skip one after Delete
		if k == nil || count <= uint64(d.o.Max) && keyID(k).ms >= minMs {
			break
		}
		var r struct {
			Key string `json:"d"` // record.Key: the rest of the record is not needed
		}
		if json.Unmarshal(v, &r) == nil && r.Key != "" && bytes.Equal(seen.Get([]byte(r.Key)), k) {
			if err := seen.Delete([]byte(r.Key)); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
		count--
	}
	return tx.Bucket(bucketMeta).Put(metaCount, binary.BigEndian.AppendUint64(nil, count))
}

// List implements Log.
func (d *Disk) List(ctx context.Context, q Query) ([]Event, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	after, err := cursor(q.After)
	if err != nil {
		return nil, "", err
	}
	limit := q.limit()
	out := []Event{}
	next := q.After
	err = d.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		start, skip := idKey(after), true
		if minID := (id{unixMs(d.o.Now().Add(-d.o.MaxAge)), 0}); after.less(minID) {
			start, skip = idKey(minID), false
		}
		k, v := c.Seek(start)
		if skip && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		filtered := q.Vendor != "" || len(q.Types) > 0
		for scanned := 0; k != nil && scanned < MaxScan && len(out) < limit; k, v = c.Next() {
			scanned++
			i := keyID(k)
			next = i.String()
			if filtered {
				// Most records may be filtered out: read only what the filter needs.
				var f struct {
					Vendor string `json:"v"`
					Type   string `json:"t"`
				}
				if json.Unmarshal(v, &f) != nil || !q.match(f.Vendor, f.Type) {
					continue
				}
			}
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				continue // unreadable: skipped, never fatal
			}
			out = append(out, r.event(i))
		}
		return nil
	})
	if err != nil {
		return nil, "", d.err(err)
	}
	return out, next, nil
}

// Notify implements Log.
func (d *Disk) Notify() (<-chan struct{}, func()) { return d.n.subscribe() }

// Close implements Log: the queued appends are committed first.
func (d *Disk) Close() error {
	var err error
	d.once.Do(func() {
		close(d.closing)
		<-d.done
		d.n.close()
		err = d.db.Close()
	})
	return err
}
