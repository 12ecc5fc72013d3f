/* pool: a runtime's worker threads. pool_run hands out n jobs and returns once every one is done:
 * the caller's thread takes jobs too, so a pool of one worker is the caller alone and starts no
 * thread. Jobs must not touch the loop, Lua or anything another job uses; what a job leaves is
 * visible to the caller when pool_run returns (the pool's lock orders it). */
#ifndef LEMU_POOL_H
#define LEMU_POOL_H

typedef struct pool pool;

/* A pool of `workers` threads in all, the caller's included (1..POOL_MAX). NULL: out of memory or
 * no thread could start (then fewer run: see pool_workers). */
#define POOL_MAX 256
pool *pool_new(int workers);
void pool_free(pool *p);
int pool_workers(const pool *p);
void pool_run(pool *p, int n, void (*job)(void *ud, int i), void *ud);

#endif
