/* deadloop.c -- the course's CPU burner (seed section 1.6.2).
 *
 * It never sleeps and never makes a system call, so on an idle machine it
 * takes 100% of one CPU, until a cgroup's cpu quota says otherwise:
 *   gcc -o deadloop deadloop.c && ./deadloop &
 *   echo 20000 > /sys/fs/cgroup/cpu/haoel/cpu.cfs_quota_us   # v1; v2: echo "20000 100000" > cpu.max
 *   echo $! >> /sys/fs/cgroup/cpu/haoel/tasks                 # v2: cgroup.procs
 *   top                                                        # now ~20%
 */
int main(void)
{
    int i = 0;
    for (;;) i++;   /* the optimiser may drop i; the loop itself stays */
    return 0;
}
