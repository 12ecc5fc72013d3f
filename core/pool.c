/* pool: worker threads that take numbered jobs from one batch at a time (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct pool {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  pthread_t *threads;
  int nthreads;            /* started, besides the caller */
  int quit;
  /* the batch: jobs next..n-1 are free, `running` are being done */
  void (*job)(void *ud, int i);
  void *ud;
  int next, n, running;
  unsigned long batch;     /* changes with every batch, so a sleeper knows a new one came */
};

/* Takes and does jobs of the current batch until none is left. Called with mu held. */
static void drain(pool *p) {
  while (p->next < p->n) {
    int i = p->next++;
    p->running++;
    pthread_mutex_unlock(&p->mu);
    p->job(p->ud, i);
    pthread_mutex_lock(&p->mu);
    if (--p->running == 0 && p->next >= p->n) pthread_cond_broadcast(&p->done);
  }
}

static void *worker(void *arg) {
  pool *p = arg;
  pthread_mutex_lock(&p->mu);
  unsigned long seen = p->batch;
  for (;;) {
    while (!p->quit && (p->batch == seen || p->next >= p->n)) {
      seen = p->batch;
      pthread_cond_wait(&p->work, &p->mu);
    }
    if (p->quit) break;
    seen = p->batch;
    drain(p);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

pool *pool_new(int workers) {
  if (workers < 1) workers = 1;
  if (workers > POOL_MAX) workers = POOL_MAX;
  pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->done, NULL);
  if (workers > 1 && !(p->threads = calloc((size_t)workers - 1, sizeof *p->threads))) {
    pool_free(p);
    return NULL;
  }
  for (int i = 0; i < workers - 1; i++) {
    if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
    p->nthreads++;
  }
  return p;
}

void pool_free(pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->mu);
  free(p->threads);
  free(p);
}

int pool_workers(const pool *p) { return p->nthreads + 1; }

void pool_run(pool *p, int n, void (*job)(void *ud, int i), void *ud) {
  if (n <= 0) return;
  if (!p->nthreads || n == 1) {
    for (int i = 0; i < n; i++) job(ud, i);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->job = job;
  p->ud = ud;
  p->next = 0;
  p->n = n;
  p->batch++;
  pthread_cond_broadcast(&p->work);
  drain(p);
  while (p->running > 0 || p->next < p->n) pthread_cond_wait(&p->done, &p->mu);
  p->n = 0;
  pthread_mutex_unlock(&p->mu);
}
