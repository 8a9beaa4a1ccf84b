/*
 * guestmips.c - runs the reference compute guest (payload.bin from
 * shared/bench-guest) on /dev/kvm in 64-bit long mode at CPL 3 and measures
 * the guest's instruction rate.
 *
 *   guestmips PAYLOAD [R1 [R2]] [-w WORDS] [-r REPS] [-m MIB] [-c CPL]
 *
 *   PAYLOAD  path of payload.bin (built from shared/bench-guest)
 *   R1, R2   round counts (defaults 16 and 256); with one round count only
 *            that run is made and no MIPS is computed
 *   WORDS    buffer words W (power of two, 64..1Mi; default 524288)
 *   REPS     runs per round count, the median time is used (default 3)
 *   MIB      guest memory in MiB (default 64; at least 16 and enough for
 *            0x400000 + 8*W)
 *   CPL      3 (default) or 0: CS 0x18 / SS..GS 0x10, RFLAGS 0x2 instead
 *
 * Every run uses a fresh VM.  The time of a run is from the first KVM_RUN to
 * the exit of the guest's `out 0xF4` (set-up excluded).
 *
 *   MIPS = (I(R2) - I(R1)) / (t(R2) - t(R1)), t the median time
 *   (mips_best: the same with the minimum times, less disturbed by
 *   other load on a shared machine),
 *   I(R, W) = 18509 + 13*W + (R > 0 ? 8 : 0) + R*(23 + 24.5*W)
 *
 * Output: one result per line, "name value unit"; '#' lines are comments.
 * The guest memory layout and register state are in bench/c/README.md.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Guest physical layout */
#define PML4_GPA     0x1000UL
#define PDPT_GPA     0x2000UL
#define PD_GPA       0x3000UL     /* one PD: 2 MiB pages, up to 1 GiB */
#define GDT_GPA      0x4000UL
#define TSS_GPA      0x5000UL     /* 0x5000..0x7068 with its I/O bitmap */
#define TSS_LIMIT    0x2068       /* 0x68 + 8192 bitmap bytes + 0xFF byte - 1 */
#define IDT_GPA      0x8000UL
#define STACK0_TOP   0x80000UL    /* TSS.RSP0 (unused unless an exception) */
#define STACK_TOP    0x8FFF8UL    /* user RSP at entry, as in lmstub.inc */
#define PAYLOAD_GPA  0x100000UL
#define PAYLOAD_MAX  0x200000UL   /* payload must end below 0x300000 */
#define CRCTAB_GPA   0x300000UL
#define BUF_GPA      0x400000UL

/* GDT selectors (the layout of mb.asm, plus a TSS) */
#define SEL_CODE32   0x08
#define SEL_DATA     0x10
#define SEL_CODE64   0x18
#define SEL_UDATA    0x20         /* | RPL 3 = 0x23 */
#define SEL_UCODE64  0x28         /* | RPL 3 = 0x2B */
#define SEL_TSS      0x30         /* 16-byte system descriptor */

#define PORT_CON     0xE9
#define PORT_STOP    0xF4

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

static double now_ns(void)
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

/* The README's exact instruction count, from entry to `out 0xF4` inclusive. */
static double instructions(long r, long w)
{
    return 18509.0 + 13.0 * w + (r > 0 ? 8 : 0) + r * (23.0 + 24.5 * w);
}

/* The README's checksums, W = 524288 only. */
static const char *expected_csum(long r, long w)
{
    static const struct { long r; const char *csum; } tab[] = {
        { 0, "00734f5bc322302b" }, { 1, "c5aa07bbdfcac2c4" },
        { 16, "b605e55ea47dc45c" }, { 64, "4a140e9186cd8c74" },
        { 256, "5a952379df3c9b8c" },
    };
    if (w != 524288)
        return NULL;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].r == r)
            return tab[i].csum;
    return NULL;
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

static int kvm_fd, run_size;
static struct kvm_cpuid2 *cpuid;
static uint8_t *payload;
static size_t payload_len;
static size_t mem_size;
static int cpl = 3;

static void load_payload(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        fprintf(stderr, "error: open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (fstat(fd, &st) < 0)
        die("fstat payload");
    if (st.st_size <= 0 || (size_t)st.st_size > PAYLOAD_MAX) {
        fprintf(stderr, "error: %s: size %lld, expected 1..%lu bytes\n", path,
                (long long)st.st_size, PAYLOAD_MAX);
        exit(1);
    }
    payload_len = st.st_size;
    payload = malloc(payload_len);
    if (!payload)
        die("malloc");
    if (read(fd, payload, payload_len) != (ssize_t)payload_len)
        die("read payload");
    close(fd);
}

static void get_supported_cpuid(void)
{
    for (int n = 64;; n *= 2) {
        cpuid = calloc(1, sizeof *cpuid + n * sizeof cpuid->entries[0]);
        if (!cpuid)
            die("calloc");
        cpuid->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
            return;
        if (errno != E2BIG || n >= 4096)
            die("KVM_GET_SUPPORTED_CPUID");
        free(cpuid);
    }
}

/* A code or data segment, flat 4 GiB. */
static struct kvm_segment seg(uint16_t sel, uint8_t type, uint8_t dpl, int l)
{
    struct kvm_segment s;
    memset(&s, 0, sizeof s);
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = sel | dpl;
    s.type = type;
    s.present = 1;
    s.dpl = dpl;
    s.db = l ? 0 : 1;
    s.s = 1;
    s.l = l;
    s.g = 1;
    return s;
}

/* Build page tables, GDT, TSS and load the payload into guest memory. */
static void build_memory(uint8_t *mem)
{
    uint64_t *pml4 = (uint64_t *)(mem + PML4_GPA);
    uint64_t *pdpt = (uint64_t *)(mem + PDPT_GPA);
    uint64_t *pd = (uint64_t *)(mem + PD_GPA);
    uint64_t *gdt = (uint64_t *)(mem + GDT_GPA);
    uint8_t *tss = mem + TSS_GPA;

    /* Identity map 0 .. mem_size with 2 MiB user pages: P | RW | US | PS */
    pml4[0] = PDPT_GPA | 0x7;
    pdpt[0] = PD_GPA | 0x7;
    for (size_t i = 0; i < mem_size >> 21; i++)
        pd[i] = (i << 21) | 0x87;

    gdt[0] = 0;
    gdt[SEL_CODE32 / 8] = 0x00CF9A000000FFFFULL;
    gdt[SEL_DATA / 8] = 0x00CF92000000FFFFULL;
    gdt[SEL_CODE64 / 8] = 0x00AF9A000000FFFFULL;
    gdt[SEL_UDATA / 8] = 0x00CFF2000000FFFFULL;
    gdt[SEL_UCODE64 / 8] = 0x00AFFA000000FFFFULL;
    /* 64-bit TSS descriptor: limit TSS_LIMIT, base TSS_GPA, type 0xB (busy), P */
    gdt[SEL_TSS / 8] = TSS_LIMIT | ((TSS_GPA & 0xFFFFFFULL) << 16) | (0x8BULL << 40) |
                       ((TSS_GPA >> 24 & 0xFF) << 56);
    gdt[SEL_TSS / 8 + 1] = TSS_GPA >> 32;

    /* TSS: RSP0 at offset 4; I/O map base (offset 0x66) = 0x68; an I/O
     * permission bitmap of 8192 zero bytes (every port allowed) and the
     * terminating 0xFF byte.  With IOPL = 3 a real processor never reads
     * the bitmap, but kvm_pvm does: without it the guest's `out` at CPL 3
     * raises #GP (a triple fault here, as there is no IDT). */
    uint64_t rsp0 = STACK0_TOP;
    memcpy(tss + 4, &rsp0, 8);
    uint16_t iomap = 0x68;
    memcpy(tss + 0x66, &iomap, 2);
    memset(tss + 0x68, 0, 8192);
    tss[0x68 + 8192] = 0xff;

    memcpy(mem + PAYLOAD_GPA, payload, payload_len);
}

struct result {
    double ns;
    long exits;
    char csum[64];
};

static void run_guest(long rounds, long words, struct result *res)
{
    struct kvm_userspace_memory_region region;
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    struct kvm_run *run;
    uint8_t *mem;
    int vm, vcpu;
    char out[64];
    size_t outlen = 0;

    vm = IOCTL(kvm_fd, KVM_CREATE_VM, 0);
    mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap guest memory");
    build_memory(mem);

    memset(&region, 0, sizeof region);
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = mem_size;
    region.userspace_addr = (uintptr_t)mem;
    IOCTL(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region);

    vcpu = IOCTL(vm, KVM_CREATE_VCPU, 0);
    run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");
    IOCTL(vcpu, KVM_SET_CPUID2, (unsigned long)cpuid);

    IOCTL(vcpu, KVM_GET_SREGS, (unsigned long)&sregs);
    if (cpl == 3) {
        sregs.cs = seg(SEL_UCODE64, 0xb, 3, 1);
        sregs.ds = seg(SEL_UDATA, 0x3, 3, 0);
    } else {
        sregs.cs = seg(SEL_CODE64, 0xb, 0, 1);
        sregs.ds = seg(SEL_DATA, 0x3, 0, 0);
    }
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    memset(&sregs.tr, 0, sizeof sregs.tr);
    sregs.tr.base = TSS_GPA;
    sregs.tr.limit = TSS_LIMIT;
    sregs.tr.selector = SEL_TSS;
    sregs.tr.type = 0xb;
    sregs.tr.present = 1;
    memset(&sregs.ldt, 0, sizeof sregs.ldt);
    sregs.ldt.unusable = 1;
    sregs.gdt.base = GDT_GPA;
    sregs.gdt.limit = 8 * 8 - 1;
    sregs.idt.base = IDT_GPA;
    sregs.idt.limit = 0;              /* no handlers: a fault shuts down */
    sregs.cr0 = 0x80050033;           /* PG | AM | WP | NE | ET | MP | PE */
    sregs.cr3 = PML4_GPA;
    sregs.cr4 = 0x620;                /* OSXMMEXCPT | OSFXSR | PAE */
    sregs.efer = 0x500;               /* LMA | LME */
    IOCTL(vcpu, KVM_SET_SREGS, (unsigned long)&sregs);

    memset(&regs, 0, sizeof regs);
    regs.rip = PAYLOAD_GPA;
    regs.rsp = STACK_TOP;
    regs.rdi = rounds;
    regs.rsi = words;
    regs.rflags = cpl == 3 ? 0x3002 : 0x2;   /* IOPL 3 (CPL 3), reserved bit 1 */
    IOCTL(vcpu, KVM_SET_REGS, (unsigned long)&regs);

    long exits = 0;
    double t0 = now_ns(), t1;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            die("KVM_RUN");
        exits++;
        if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
            run->io.size == 1 && run->io.count == 1) {
            uint8_t b = *((uint8_t *)run + run->io.data_offset);
            if (run->io.port == PORT_STOP) {
                t1 = now_ns();
                break;
            }
            if (run->io.port == PORT_CON) {
                if (outlen < sizeof out - 1)
                    out[outlen++] = b;
                continue;
            }
        }
        struct kvm_regs r;
        fprintf(stderr, "error: KVM_RUN: unexpected exit %u (%s)", run->exit_reason,
                exit_name(run->exit_reason));
        if (run->exit_reason == KVM_EXIT_IO)
            fprintf(stderr, " (port 0x%x dir %u size %u count %u)", run->io.port,
                    run->io.direction, run->io.size, run->io.count);
        if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
            fprintf(stderr, " (suberror %u)", run->internal.suberror);
        if (ioctl(vcpu, KVM_GET_REGS, &r) == 0)
            fprintf(stderr, " at rip 0x%llx rsp 0x%llx", (unsigned long long)r.rip,
                    (unsigned long long)r.rsp);
        fprintf(stderr, " after %ld exits\n", exits);
        exit(1);
    }
    out[outlen] = 0;

    res->ns = t1 - t0;
    res->exits = exits;
    if (outlen == 22 && !memcmp(out, "CSUM=", 5) && out[21] == '\n') {
        memcpy(res->csum, out + 5, 16);
        res->csum[16] = 0;
    } else {
        fprintf(stderr, "error: guest output is not CSUM=<16 hex digits>\\n: \"%s\"\n", out);
        exit(1);
    }

    if (munmap(run, run_size) < 0)
        die("munmap kvm_run");
    if (close(vcpu) < 0)
        die("close vcpu");
    if (close(vm) < 0)
        die("close vm");
    if (munmap(mem, mem_size) < 0)
        die("munmap guest memory");
}

/* Runs R `reps` times; prints its lines; returns the median time in ns
 * and the minimum in *best. */
static double measure(long rounds, long words, int reps, double *best)
{
    double *t = calloc(reps, sizeof *t);
    struct result res, first;

    for (int i = 0; i < reps; i++) {
        run_guest(rounds, words, &res);
        if (i == 0)
            first = res;
        else if (strcmp(res.csum, first.csum) || res.exits != first.exits) {
            fprintf(stderr, "error: R=%ld: runs differ: %s/%ld vs %s/%ld\n", rounds,
                    first.csum, first.exits, res.csum, res.exits);
            exit(1);
        }
        t[i] = res.ns;
    }
    printf("# R=%ld per run (ms):", rounds);
    for (int i = 0; i < reps; i++)
        printf(" %.3f", t[i] / 1e6);
    printf("\n");

    double med = median(t, reps);
    *best = t[0];   /* sorted by median() */
    const char *want = expected_csum(rounds, words);
    printf("csum_r%ld %s hex\n", rounds, first.csum);
    if (want)
        printf("csum_ok_r%ld %d bool\n", rounds, !strcmp(want, first.csum));
    else
        printf("# R=%ld W=%ld: no reference checksum in the README\n", rounds, words);
    printf("exits_r%ld %ld count\n", rounds, first.exits);
    printf("instructions_r%ld %.0f count\n", rounds, instructions(rounds, words));
    printf("time_r%ld %.3f ms\n", rounds, med / 1e6);
    printf("time_min_r%ld %.3f ms\n", rounds, *best / 1e6);
    if (want && strcmp(want, first.csum)) {
        fprintf(stderr, "error: R=%ld W=%ld: checksum %s, expected %s\n", rounds, words,
                first.csum, want);
        exit(1);
    }
    free(t);
    return med;
}

static void usage(void)
{
    fprintf(stderr, "usage: guestmips PAYLOAD [R1 [R2]] [-w WORDS] [-r REPS] [-m MIB] [-c CPL]\n"
                    "  defaults: R1 16, R2 256, WORDS 524288, REPS 3, MIB 64, CPL 3\n"
                    "  (-c 0 runs the payload at CPL 0; under kvm_pvm that is emulated,\n"
                    "   ~1.5 MIPS: use small WORDS and rounds)\n");
    exit(2);
}

static long num(const char *s)
{
    char *end;
    long v = strtol(s, &end, 0);
    if (!*s || *end || v < 0)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    long r[2] = { 16, 256 }, words = 524288, mib = 64;
    int nr = 0, reps = 3;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-w") && i + 1 < argc)
            words = num(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = (int)num(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc)
            mib = num(argv[++i]);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            cpl = (int)num(argv[++i]);
            if (cpl != 0 && cpl != 3)
                usage();
        }
        else if (argv[i][0] == '-')
            usage();
        else if (!path)
            path = argv[i];
        else if (nr < 2)
            r[nr++] = num(argv[i]);
        else
            usage();
    }
    if (!path || reps < 1)
        usage();
    if (words < 64 || words > (1L << 20) || (words & (words - 1))) {
        fprintf(stderr, "error: WORDS must be a power of two in 64..1048576\n");
        return 2;
    }
    mem_size = (size_t)mib << 20;
    if (mib < 16 || mib > 1024 || mib % 2 || mem_size < BUF_GPA + 8 * (size_t)words) {
        fprintf(stderr, "error: MIB must be even, 16..1024, and hold 0x400000 + 8*WORDS\n");
        return 2;
    }
    int two = nr != 1;
    if (two && r[1] <= r[0]) {
        fprintf(stderr, "error: R2 must be greater than R1\n");
        return 2;
    }

    load_payload(path);
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        die("open /dev/kvm");
    if (IOCTL(kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        fprintf(stderr, "error: KVM_GET_API_VERSION: not %d\n", KVM_API_VERSION);
        return 1;
    }
    run_size = IOCTL(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    get_supported_cpuid();
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("# guestmips: payload %s (%zu bytes), W %ld, memory %ld MiB, reps %d, CPL %d\n",
           path, payload_len, words, mib, reps, cpl);
    double b1, b2;
    double t1 = measure(r[0], words, reps, &b1);
    if (two) {
        double t2 = measure(r[1], words, reps, &b2);
        double di = instructions(r[1], words) - instructions(r[0], words);
        printf("mips %.1f MIPS\n", di / ((t2 - t1) / 1e3));
        printf("mips_best %.1f MIPS\n", di / ((b2 - b1) / 1e3));
    }
    close(kvm_fd);
    return 0;
}
