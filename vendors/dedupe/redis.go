package dedupe

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Store shared by every replica.
type Redis struct{ rdb redis.UniversalClient }

// NewRedis returns a store over rdb.
func NewRedis(rdb redis.UniversalClient) *Redis { return &Redis{rdb: rdb} }

// pending marks a claim whose call has not finished.
const pending = "\x00pending"

func redisKey(key string) string { return "crm-mcp:dedupe:" + key }

// Claim implements Store: SET NX, and on a lost race GET the holder's result.
func (r *Redis) Claim(ctx context.Context, key string, ttl time.Duration) (bool, []byte, error) {
	ok, err := r.rdb.SetNX(ctx, redisKey(key), pending, ttl).Result()
	if err != nil {
		return false, nil, err
	}
	if ok {
		return true, nil, nil
	}
	v, err := r.rdb.Get(ctx, redisKey(key)).Bytes()
	switch {
	case errors.Is(err, redis.Nil): // expired between the two calls: try again
		return r.Claim(ctx, key, ttl)
	case err != nil:
		return false, nil, err
	case string(v) == pending:
		return false, nil, nil
	}
	return false, v, nil
}

// Complete implements Store.
func (r *Redis) Complete(ctx context.Context, key string, result []byte, ttl time.Duration) error {
	return r.rdb.Set(ctx, redisKey(key), result, ttl).Err()
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, key string) error {
	return r.rdb.Del(ctx, redisKey(key)).Err()
}

// Result implements Store.
func (r *Redis) Result(ctx context.Context, key string) ([]byte, error) {
	v, err := r.rdb.Get(ctx, redisKey(key)).Bytes()
	switch {
	case errors.Is(err, redis.Nil) || err == nil && string(v) == pending:
		return nil, nil
	case err != nil:
		return nil, err
	}
	return v, nil
}
