/* test_dtimer: device timers fire in deadline order on the clock they were armed on, not before;
 * re-arming and cancelling move them; the owner hears of a new earliest deadline. */
#include "ctest.h"
#include "dtimer.h"

static uint64_t fake_now;
static int kicks;
static char order[8];
static int nfired;

static uint64_t now(void *ud) { (void)ud; return fake_now; }
static void kick(void *ud) { (void)ud; kicks++; }
static void fire(dtimer *t) { order[nfired++] = *(const char *)t->ud; }

TEST(dtimers_fire_in_deadline_order_and_not_before) {
  dtimer_clock c;
  dtimer_clock_init(&c, now, kick, NULL);
  fake_now = 1000;
  kicks = nfired = 0;
  dtimer a, b, d;
  dtimer_init(&a, &c, fire, "a");
  dtimer_init(&b, &c, fire, "b");
  dtimer_init(&d, &c, fire, "d");
  CHECK_EQ(dtimer_run(&c), DTIMER_NEVER);
  dtimer_arm(&a, 500);            /* due 1500: the earliest, kicks */
  dtimer_arm(&b, 100);            /* due 1100: earlier still, kicks */
  dtimer_arm(&d, 900);            /* due 1900: not the earliest */
  CHECK_EQ(kicks, 2);
  CHECK_EQ(dtimer_run(&c), 100);
  CHECK_EQ(nfired, 0);
  fake_now = 1500;
  CHECK_EQ(dtimer_run(&c), 400);  /* b and a fired, d in 400 */
  CHECK_EQ(nfired, 2);
  CHECK(order[0] == 'b' && order[1] == 'a');
  CHECK(!dtimer_armed(&a) && dtimer_armed(&d));
  dtimer_arm(&d, 50);             /* moved earlier: due 1550 */
  dtimer_cancel(&d);
  CHECK_EQ(dtimer_run(&c), DTIMER_NEVER);
  fake_now = 5000;
  dtimer_run(&c);
  CHECK_EQ(nfired, 2);            /* the cancelled timer never fired */
}

static dtimer *again;
static void fire_again(dtimer *t) { nfired++; if (nfired < 3) dtimer_arm(again = t, 10); }

TEST(dtimer_may_rearm_itself_from_its_callback) {
  dtimer_clock c;
  dtimer_clock_init(&c, now, NULL, NULL);
  fake_now = 0;
  nfired = 0;
  dtimer t;
  dtimer_init(&t, &c, fire_again, NULL);
  dtimer_arm(&t, 10);
  fake_now = 10;
  CHECK_EQ(dtimer_run(&c), 10);   /* fired once, re-armed for 20 */
  fake_now = 20;
  CHECK_EQ(dtimer_run(&c), 10);
  fake_now = 30;
  CHECK_EQ(dtimer_run(&c), DTIMER_NEVER);
  CHECK_EQ(nfired, 3);
}
