/*
 * kvmbench.c - micro-benchmarks of the raw Linux KVM API on /dev/kvm.
 *
 * The C peer of KvmSharp's benchmarks: the same guests, byte for byte, are
 * run by the C# implementation (see bench/c/README.md for the exact guest
 * bytes, memory layout and register state).
 *
 *   kvmbench create    [-r REPS]       VM + 64 MiB slot + vCPU + run-mmap + regs
 *                                      + first KVM_RUN to HLT, in us
 *   kvmbench pio  [N]  [-r REPS]       N exits of `out dx, al` (port 0x3f8), ns/exit
 *   kvmbench mmio [N]  [-r REPS]       N exits of `mov [edi], al` (gpa 0x10000000,
 *                                      outside every slot), ns/exit
 *   kvmbench immediate [N] [-r REPS]   KVM_RUN with immediate_exit = 1, ns/call
 *   kvmbench all  [N]  [-r REPS]       all of the above
 *
 * Output: one result per line, "name value unit"; lines starting with '#'
 * are comments (configuration, per-repetition values).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE   (64UL << 20)   /* one slot: guest physical 0 .. 64 MiB */
#define CODE_GPA   0x1000UL       /* guest code is loaded and entered here */
#define PIO_PORT   0x3f8
#define MMIO_GPA   0x10000000UL   /* 256 MiB: outside the only slot */

/* ---- the guests (32-bit flat protected mode, CPL 0; see README.md) ---- */

/* hlt */
static const uint8_t guest_hlt[] = { 0xf4 };

/* 1000: 66 ba f8 03   mov dx, 0x3f8
 * 1004: ee            out dx, al
 * 1005: eb fd         jmp 1004        */
static const uint8_t guest_pio[] = { 0x66, 0xba, 0xf8, 0x03, 0xee, 0xeb, 0xfd };

/* 1000: bf 00 00 00 10   mov edi, 0x10000000
 * 1005: 88 07            mov [edi], al
 * 1007: eb fc            jmp 1005     */
static const uint8_t guest_mmio[] = { 0xbf, 0x00, 0x00, 0x00, 0x10, 0x88, 0x07, 0xeb, 0xfc };

/* ---- helpers ---- */

static void die(const char *what)
{
    fprintf(stderr, "error: %s: %s\n", what, strerror(errno));
    exit(1);
}

#define IOCTL(fd, req, arg) xioctl((fd), (req), (arg), #req)
static int xioctl(int fd, unsigned long req, unsigned long arg, const char *name)
{
    int r = ioctl(fd, req, arg);
    if (r < 0)
        die(name);
    return r;
}

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *exit_name(uint32_t r)
{
    static const char *names[] = {
        "UNKNOWN", "EXCEPTION", "IO", "HYPERCALL", "DEBUG", "HLT", "MMIO",
        "IRQ_WINDOW_OPEN", "SHUTDOWN", "FAIL_ENTRY", "INTR", "SET_TPR",
        "TPR_ACCESS", "S390_SIEIC", "S390_RESET", "DCR", "NMI", "INTERNAL_ERROR",
    };
    return r < sizeof names / sizeof names[0] ? names[r] : "?";
}

static void unexpected_exit(int vcpu, struct kvm_run *run, const char *wanted)
{
    struct kvm_regs regs;
    fprintf(stderr, "error: KVM_RUN: unexpected exit %u (%s), wanted %s",
            run->exit_reason, exit_name(run->exit_reason), wanted);
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
        fprintf(stderr, " (suberror %u)", run->internal.suberror);
    if (run->exit_reason == KVM_EXIT_IO)
        fprintf(stderr, " (port 0x%x dir %u size %u count %u)", run->io.port,
                run->io.direction, run->io.size, run->io.count);
    if (run->exit_reason == KVM_EXIT_MMIO)
        fprintf(stderr, " (gpa 0x%llx len %u write %u)",
                (unsigned long long)run->mmio.phys_addr, run->mmio.len,
                run->mmio.is_write);
    if (ioctl(vcpu, KVM_GET_REGS, &regs) == 0)
        fprintf(stderr, " at rip 0x%llx", (unsigned long long)regs.rip);
    fputc('\n', stderr);
    exit(1);
}

/* ---- one VM ---- */

static int kvm_fd;
static int run_size;

struct vm {
    int vm, vcpu;
    struct kvm_run *run;
    uint8_t *mem;
};

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
    memset(s, 0, sizeof *s);
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->dpl = 0;
    s->db = 1;
    s->s = 1;
    s->g = 1;
}

/* Steps of vm_create(), timed by `create` (ts[i] = time after step i). */
enum { T_CREATE_VM, T_MEMORY, T_VCPU, T_RUN_MMAP, T_REGS, T_STEPS };
static const char *step_name[T_STEPS] = {
    "create_step_vm", "create_step_memory", "create_step_vcpu",
    "create_step_run_mmap", "create_step_regs",
};

static void vm_create(struct vm *v, const uint8_t *code, size_t len, double *ts)
{
    struct kvm_userspace_memory_region region;
    struct kvm_sregs sregs;
    struct kvm_regs regs;

    v->vm = IOCTL(kvm_fd, KVM_CREATE_VM, 0);
    if (ts)
        ts[T_CREATE_VM] = now_ns();

    v->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (v->mem == MAP_FAILED)
        die("mmap guest memory");
    memcpy(v->mem + CODE_GPA, code, len);

    memset(&region, 0, sizeof region);
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = MEM_SIZE;
    region.userspace_addr = (uintptr_t)v->mem;
    IOCTL(v->vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region);
    if (ts)
        ts[T_MEMORY] = now_ns();

    v->vcpu = IOCTL(v->vm, KVM_CREATE_VCPU, 0);
    if (ts)
        ts[T_VCPU] = now_ns();
    v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
    if (v->run == MAP_FAILED)
        die("mmap kvm_run");
    if (ts)
        ts[T_RUN_MMAP] = now_ns();

    IOCTL(v->vcpu, KVM_GET_SREGS, (unsigned long)&sregs);
    flat_seg(&sregs.cs, 0x08, 0xb);     /* code, execute/read, accessed */
    flat_seg(&sregs.ds, 0x10, 0x3);     /* data, read/write, accessed */
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.cr0 |= 1;                     /* PE; paging off */
    IOCTL(v->vcpu, KVM_SET_SREGS, (unsigned long)&sregs);

    memset(&regs, 0, sizeof regs);
    regs.rip = CODE_GPA;
    regs.rflags = 0x2;
    IOCTL(v->vcpu, KVM_SET_REGS, (unsigned long)&regs);
    if (ts)
        ts[T_REGS] = now_ns();
}

static void vm_destroy(struct vm *v)
{
    if (munmap(v->run, run_size) < 0)
        die("munmap kvm_run");
    if (close(v->vcpu) < 0)
        die("close vcpu");
    if (close(v->vm) < 0)
        die("close vm");
    if (munmap(v->mem, MEM_SIZE) < 0)
        die("munmap guest memory");
}

static void run_once(struct vm *v)
{
    if (ioctl(v->vcpu, KVM_RUN, 0) < 0)
        die("KVM_RUN");
}

/* ---- benchmarks ---- */

static void print_reps(const char *name, const double *v, int n, const char *unit)
{
    printf("# %s per repetition (%s):", name, unit);
    for (int i = 0; i < n; i++)
        printf(" %.1f", v[i]);
    printf("\n");
}

static void bench_create(int reps)
{
    double *t = calloc(reps, sizeof *t), *td = calloc(reps, sizeof *td);
    double *step[T_STEPS + 1];
    double ts[T_STEPS];
    struct vm v;

    for (int k = 0; k <= T_STEPS; k++)
        step[k] = calloc(reps, sizeof(double));

    /* one untimed warm-up */
    for (int i = -1; i < reps; i++) {
        double t0 = now_ns();
        vm_create(&v, guest_hlt, sizeof guest_hlt, ts);
        run_once(&v);
        double t1 = now_ns();
        if (v.run->exit_reason != KVM_EXIT_HLT)
            unexpected_exit(v.vcpu, v.run, "HLT");
        vm_destroy(&v);
        double t2 = now_ns();
        if (i >= 0) {
            t[i] = (t1 - t0) / 1e3;
            td[i] = (t2 - t1) / 1e3;
            for (int k = 0; k < T_STEPS; k++)
                step[k][i] = (ts[k] - (k ? ts[k - 1] : t0)) / 1e3;
            step[T_STEPS][i] = (t1 - ts[T_STEPS - 1]) / 1e3;
        }
    }
    print_reps("create", t, reps, "us");
    print_reps("teardown", td, reps, "us");
    printf("create %.1f us\n", median(t, reps));
    for (int k = 0; k < T_STEPS; k++)
        printf("%s %.1f us\n", step_name[k], median(step[k], reps));
    printf("create_step_first_run %.1f us\n", median(step[T_STEPS], reps));
    printf("teardown %.1f us\n", median(td, reps));
    for (int k = 0; k <= T_STEPS; k++)
        free(step[k]);
    free(t);
    free(td);
}

static void bench_pio(long n, int reps)
{
    double *t = calloc(reps, sizeof *t);
    struct vm v;

    vm_create(&v, guest_pio, sizeof guest_pio, NULL);
    for (int i = -1; i < reps; i++) {
        long m = i < 0 ? n / 100 + 1 : n;   /* short warm-up */
        double t0 = now_ns();
        for (long k = 0; k < m; k++) {
            run_once(&v);
            if (v.run->exit_reason != KVM_EXIT_IO ||
                v.run->io.port != PIO_PORT ||
                v.run->io.direction != KVM_EXIT_IO_OUT ||
                v.run->io.size != 1 || v.run->io.count != 1)
                unexpected_exit(v.vcpu, v.run, "IO out 0x3f8");
        }
        double t1 = now_ns();
        if (i >= 0)
            t[i] = (t1 - t0) / (double)n;
    }
    vm_destroy(&v);
    print_reps("pio_exit", t, reps, "ns");
    printf("pio_exit %.1f ns\n", median(t, reps));
    free(t);
}

static void bench_mmio(long n, int reps)
{
    double *t = calloc(reps, sizeof *t);
    struct vm v;

    vm_create(&v, guest_mmio, sizeof guest_mmio, NULL);
    for (int i = -1; i < reps; i++) {
        long m = i < 0 ? n / 100 + 1 : n;
        double t0 = now_ns();
        for (long k = 0; k < m; k++) {
            run_once(&v);
            if (v.run->exit_reason != KVM_EXIT_MMIO ||
                v.run->mmio.phys_addr != MMIO_GPA ||
                !v.run->mmio.is_write || v.run->mmio.len != 1)
                unexpected_exit(v.vcpu, v.run, "MMIO write 0x10000000");
        }
        double t1 = now_ns();
        if (i >= 0)
            t[i] = (t1 - t0) / (double)n;
    }
    vm_destroy(&v);
    print_reps("mmio_exit", t, reps, "ns");
    printf("mmio_exit %.1f ns\n", median(t, reps));
    free(t);
}

static void bench_immediate(long n, int reps)
{
    double *t = calloc(reps, sizeof *t);
    struct vm v;

    vm_create(&v, guest_hlt, sizeof guest_hlt, NULL);
    /* Run the guest to its HLT first, so the vCPU has entered once. */
    run_once(&v);
    if (v.run->exit_reason != KVM_EXIT_HLT)
        unexpected_exit(v.vcpu, v.run, "HLT");
    v.run->immediate_exit = 1;
    for (int i = -1; i < reps; i++) {
        long m = i < 0 ? n / 100 + 1 : n;
        double t0 = now_ns();
        for (long k = 0; k < m; k++) {
            if (ioctl(v.vcpu, KVM_RUN, 0) == 0) {
                fprintf(stderr, "error: KVM_RUN: returned 0 with immediate_exit set "
                        "(exit %u %s)\n", v.run->exit_reason, exit_name(v.run->exit_reason));
                exit(1);
            }
            if (errno != EINTR)
                die("KVM_RUN");
        }
        double t1 = now_ns();
        if (i >= 0)
            t[i] = (t1 - t0) / (double)n;
    }
    /* KVM only returns -EINTR; it need not touch exit_reason (6.18 leaves
     * it as it was), so it is reported, not checked. */
    printf("# immediate: exit_reason after KVM_RUN: %u (%s)\n",
           v.run->exit_reason, exit_name(v.run->exit_reason));
    vm_destroy(&v);
    print_reps("immediate_exit", t, reps, "ns");
    printf("immediate_exit %.1f ns\n", median(t, reps));
    free(t);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: kvmbench create [-r REPS]\n"
            "       kvmbench pio [N] [-r REPS]\n"
            "       kvmbench mmio [N] [-r REPS]\n"
            "       kvmbench immediate [N] [-r REPS]\n"
            "       kvmbench all [N] [-r REPS]\n"
            "  N: exits (or KVM_RUN calls) per repetition, default 1000000\n"
            "  REPS: repetitions (median reported), default 3 (create: 100)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *cmd;
    long n = 1000000;
    int reps = 0;

    if (argc < 2)
        usage();
    cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "-r") && i + 1 < argc) {
            reps = (int)strtol(argv[++i], &end, 0);
            if (*end || reps < 1)
                usage();
        } else {
            n = strtol(argv[i], &end, 0);
            if (*end || n < 1)
                usage();
        }
    }

    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        die("open /dev/kvm");
    int api = IOCTL(kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        fprintf(stderr, "error: KVM_GET_API_VERSION: %d, expected %d\n", api, KVM_API_VERSION);
        return 1;
    }
    run_size = IOCTL(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int all = !strcmp(cmd, "all");
    int known = 0;
    if (all || !strcmp(cmd, "create")) {
        printf("# create: reps %d\n", reps ? reps : 100);
        bench_create(reps ? reps : 100);
        known = 1;
    }
    if (all || !strcmp(cmd, "pio")) {
        printf("# pio: N %ld reps %d\n", n, reps ? reps : 3);
        bench_pio(n, reps ? reps : 3);
        known = 1;
    }
    if (all || !strcmp(cmd, "mmio")) {
        printf("# mmio: N %ld reps %d\n", n, reps ? reps : 3);
        bench_mmio(n, reps ? reps : 3);
        known = 1;
    }
    if (all || !strcmp(cmd, "immediate")) {
        printf("# immediate: N %ld reps %d\n", n, reps ? reps : 3);
        bench_immediate(n, reps ? reps : 3);
        known = 1;
    }
    if (!known)
        usage();
    close(kvm_fd);
    return 0;
}
