/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libpmemstream.h -- the C API of pmemstream.
 *
 * A stream is a persistent, append-only log kept in one mapped file, divided into regions that
 * hold entries of arbitrary size (0 bytes included). This header keeps the names, parameter
 * order and meaning of the synchronous C API of the original pmemstream (0.2), so its users
 * can switch by relinking, and of its asynchronous functions with futures of this library's
 * own in place of miniasync's; it adds specific error codes, error messages, opening by path
 * and introspection. docs/c_api.md has a guide and migration notes; the C++ API is
 * <pmemstream/stream.hpp> (a C++ translation unit should include one of the two headers, not
 * both: struct pmemstream here and namespace pmemstream there share a name).
 *
 * Vocabulary
 *  - committed: visible to iterators and accessors;
 *  - persisted: survives a process crash or power failure.
 *  Every entry gets a timestamp, unique and increasing across the whole stream (the first is
 *  1; 0 is never a valid timestamp). Every entry whose timestamp is <= the persisted timestamp
 *  is durable.
 *
 * Errors
 *  Functions that return an int status (all that return int but pmemstream_errno()) return 0
 *  on success and -1 on failure, as the original did. A failure also
 *   - sets errno to the closest POSIX code (EINVAL, ENOSPC, EIO, ...; the table is in
 *     docs/c_api.md);
 *   - keeps its specific code for pmemstream_errno(): one of PMEMSTREAM_E_* (-1001 .. -1999)
 *     below, or a negated errno (-1 .. -999; today only -ENOMEM, out of memory);
 *   - keeps a message for pmemstream_errormsg() that says what exactly went wrong.
 *  "Fails with CODE" below means all of that with pmemstream_errno() == CODE. Any function
 *  may also fail with -ENOMEM, and with PMEMSTREAM_E_INTERNAL (a bug in the library).
 *  pmemstream_errno() and the message are per thread and kept until the thread's next
 *  failure: successful calls do not clear them (errno, as always in C, means something only
 *  right after a failure). pmemstream_strerror() names any code.
 *  Functions that return a value instead of a code signal an error with a documented value
 *  (0, NULL or PMEMSTREAM_INVALID_OFFSET) and set errno, pmemstream_errno() and the message
 *  the same way; where that value is also a legal result, a pmemstream_*_get_info() function
 *  returns the same facts with a code. Functions that return a future (pmemstream_async_*)
 *  put the specific code in the future's output.error_code (0 on success) and record the
 *  failure the same way.
 *
 * Specific codes as return values (opt-in)
 *  A translation unit that defines PMEMSTREAM_SPECIFIC_ERRORS before it includes this header
 *  gets the specific code (what pmemstream_errno() would return) as the return value of every
 *  function that returns an int status, instead of -1; errno, pmemstream_errno() and the
 *  message are set as in the default mode. The macro maps each such name to a variant with
 *  the suffix _errc (pmemstream_append -> pmemstream_append_errc), declared at the end of this
 *  header; the variants can also be called by name without the macro. Both sets are
 *  exported, so the choice is per translation unit.
 *
 * Thread safety
 *  A stream may be used from many threads at once. Appends to different regions run in
 *  parallel; appends to one region are serialised. Region allocation and free are serialised.
 *  Freeing a region while another thread appends to or iterates it is an error the library
 *  reports (PMEMSTREAM_E_INVALID_HANDLE or PMEMSTREAM_E_BUSY), never memory corruption.
 *  One iterator or reader must not be used by two threads at once. pmemstream_delete() must
 *  not run concurrently with any other use of the stream.
 */
#ifndef LIBPMEMSTREAM_H
#define LIBPMEMSTREAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PMEMSTREAM_MAJOR_VERSION 0
#define PMEMSTREAM_MINOR_VERSION 3

/* ---- error codes ---- */

#define PMEMSTREAM_E_BASE 1000
/* A parameter is out of range or NULL where a value is required. */
#define PMEMSTREAM_E_INVALID_ARGUMENT (-1001)
/* A region or entry does not name a live region / committed entry, or an iterator is not
 * positioned on one. */
#define PMEMSTREAM_E_INVALID_HANDLE (-1002)
/* The entry does not fit in the space the region has left. */
#define PMEMSTREAM_E_REGION_FULL (-1003)
/* No free space in the stream is large enough for the region. */
#define PMEMSTREAM_E_OUT_OF_SPACE (-1004)
/* The stream's bytes break a validity rule of the format (docs/format.md). */
#define PMEMSTREAM_E_CORRUPT (-1005)
/* The file holds a stream of another format version. */
#define PMEMSTREAM_E_VERSION_MISMATCH (-1006)
/* The file (mapping) is neither a stream nor all zeroes. */
#define PMEMSTREAM_E_NOT_A_STREAM (-1007)
/* Opened with parameters (block size) that contradict the stream's header. */
#define PMEMSTREAM_E_PARAMETER_MISMATCH (-1008)
/* The operating system or the medium failed (open, map, allocate, flush). */
#define PMEMSTREAM_E_IO (-1009)
/* A write to a stream opened read-only. */
#define PMEMSTREAM_E_READ_ONLY (-1010)
/* The operation conflicts with one in progress (an outstanding reservation). */
#define PMEMSTREAM_E_BUSY (-1011)
/* An entry above the format's limit (4 GiB - 1 bytes). */
#define PMEMSTREAM_E_ENTRY_TOO_LARGE (-1012)
/* pmemstream_create() on a file that already holds data. */
#define PMEMSTREAM_E_EXISTS (-1013)
/* An earlier media error put the stream in a failed state; reopen it. */
#define PMEMSTREAM_E_MEDIA_FAILED (-1014)
/* Every timestamp the format can hold (2^56 - 1) is used; the stream takes no more writes. */
#define PMEMSTREAM_E_TIMESTAMPS_EXHAUSTED (-1015)
/* A write through a stream opened by another process (the parent of a fork()); open the
 * stream again in this process. */
#define PMEMSTREAM_E_WRONG_PROCESS (-1016)
/* A wait with a timeout ended first (errno ETIMEDOUT). */
#define PMEMSTREAM_E_TIMED_OUT (-1017)
/* Transactions: more members than PMEMSTREAM_TX_MAX_MEMBERS (errno E2BIG). */
#define PMEMSTREAM_E_TX_TOO_LARGE (-1018)
/* Transactions: the transaction was already committed or aborted (errno EINVAL). */
#define PMEMSTREAM_E_TX_FINISHED (-1019)
/* A clear or truncation of the region removed the iterator's position (errno ESPIPE); seek
 * the iterator again. (issue 14: truncation) */
#define PMEMSTREAM_E_TRUNCATED (-1020)

/* Live readers (issue 12): */
/* A read-only stream's region was freed by the writer process since the reader last stepped
 * (errno ENOENT); the reader's position in it is gone. */
#define PMEMSTREAM_E_REGION_FREED (-1021)
/* The writer process a read-only stream followed closed the stream, died, or was replaced by
 * a new writer that recovered the stream (errno EPIPE); open the stream again to go on. */
#define PMEMSTREAM_E_WRITER_GONE (-1022)
/* An unexpected failure inside the library (a bug); see pmemstream_errormsg(). */
#define PMEMSTREAM_E_INTERNAL (-1999)

/*
 * Returns a short fixed description of any code returned by this library ("region full",
 * "Cannot allocate memory", "success" for 0), never NULL. -1, the drop-in failure value, is
 * described as a failure whose code pmemstream_errno() has. The string is static for library
 * codes and thread-local for -errno codes (valid until the next call in the thread).
 * Thread safety: any thread.
 */
const char *pmemstream_strerror(int code);

/*
 * Returns the specific code of the calling thread's last failed call (PMEMSTREAM_E_*, or a
 * negated errno such as -ENOMEM), or 0 when no call has failed in this thread. Successful
 * calls do not clear it.
 * Thread safety: any thread; each thread sees its own.
 */
int pmemstream_errno(void);

/*
 * Returns the message of the calling thread's last failed call (what failed and where), or ""
 * when no call has failed in this thread. For example, a 5000-byte append to a fresh
 * one-block region at offset 0x1000 (4 KiB blocks) leaves
 *   "region 0x1000 has 3840 bytes left; the entry needs 5016"
 * (tests/c_api checks that this example is what the library prints). Successful calls do not
 * clear it. The string is valid until the thread's next failing call. Never NULL.
 */
const char *pmemstream_errormsg(void);

/* ---- handles ---- */

struct pmem2_map;
/* A stream. Opaque. */
struct pmemstream;
/* Per-region volatile state (append position and lock), owned by the stream. */
struct pmemstream_region_runtime;
struct pmemstream_region_iterator;
struct pmemstream_entry_iterator;
struct pmemstream_stream_reader;

/* A region, named by the offset of its header in the stream. A plain value, valid until the
 * region is freed. Offset 0 never names a region. */
struct pmemstream_region {
	uint64_t offset;
};

/* An entry, named by the offset of its header in the stream. Offset 0 never names an entry. */
struct pmemstream_entry {
	uint64_t offset;
};

/* The offset of the region or entry an iterator returns when it is not on one; it never names
 * a region or an entry. */
#define PMEMSTREAM_INVALID_OFFSET UINT64_MAX

/* ---- opening and closing ---- */

/*
 * Creates a stream over an all-zero libpmem2 mapping, or reopens the stream it holds.
 *  stream:     out; the new handle (set to NULL on failure)
 *  block_size: a power of two, at least 64; regions start and end on block boundaries. When
 *              reopening it must equal the block size the stream was created with.
 *  map:        the mapping (pmem2_map_new()); it must outlive the stream
 * Returns 0, or fails with
 *  PMEMSTREAM_E_INVALID_ARGUMENT   stream or map NULL, block_size not a power of two >= 64,
 *                                  an all-zero mapping too small for the header and one block
 *  PMEMSTREAM_E_PARAMETER_MISMATCH reopening with another block size (the stream is untouched)
 *  PMEMSTREAM_E_NOT_A_STREAM       the mapping holds data that is not a stream, or is smaller
 *                                  than a stream header (128 bytes)
 *  PMEMSTREAM_E_VERSION_MISMATCH, PMEMSTREAM_E_CORRUPT, PMEMSTREAM_E_IO, -ENOMEM
 * Durability: when it returns 0 the stream's header, and the result of recovery (a torn tail
 * trimmed), are persisted.
 */
int pmemstream_from_map(struct pmemstream **stream, size_t block_size, struct pmem2_map *map);

/*
 * Creates the file `path` preallocated to `size` bytes, initialises a stream in it and opens
 * it for writing. Exclusive: of two concurrent creates one wins, the other fails with
 * PMEMSTREAM_E_EXISTS or PMEMSTREAM_E_BUSY. An existing file is adopted only if it holds
 * nothing but zeroes and is not larger than `size`; a failed create removes what it made.
 *  stream:     out; the new handle (set to NULL on failure)
 *  size:       total file size in bytes; must hold the header area (4 KiB, rounded up to the
 *              block size) and one block
 *  block_size: a power of two, at least 64; 0 means 4096
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer, bad size or block
 * size, an all-zero file larger than `size`, a FIFO or device), PMEMSTREAM_E_EXISTS (the file
 * holds data), PMEMSTREAM_E_BUSY (another process creates or writes it), PMEMSTREAM_E_IO
 * (including no space left), -ENOMEM.
 * Durability: on success the stream's header is persisted.
 */
int pmemstream_create(struct pmemstream **stream, const char *path, uint64_t size, uint64_t block_size);

/* Flags of pmemstream_open(). */
/* Map the file read-only; nothing is ever written, not even by recovery. */
#define PMEMSTREAM_OPEN_READ_ONLY (1u << 0)
/* With PMEMSTREAM_OPEN_READ_ONLY: treat damage like a torn tail and show what precedes it,
 * instead of failing with PMEMSTREAM_E_CORRUPT. */
#define PMEMSTREAM_OPEN_SALVAGE (1u << 1)
/* With PMEMSTREAM_OPEN_READ_ONLY: follow the writer process that has the file open (live
 * readers, see pmemstream_wait_for()); without it a read-only stream is a snapshot. */
#define PMEMSTREAM_OPEN_FOLLOW (1u << 4)
/* --- fast reopen and repair (issue 14) --- */
/* Point-in-time repair: cut each region at its first damage and drop every entry above the
 * last timestamp known to precede it (in every region), so that a damaged stream opens and
 * takes appends; with PMEMSTREAM_OPEN_READ_ONLY a dry run that writes nothing. Not with
 * SALVAGE. docs/format.md 8.6. */
#define PMEMSTREAM_OPEN_POINT_IN_TIME (1u << 2)
/* Walk and checksum every entry at open instead of trusting each region's checkpoint (the
 * fast reopen, docs/format.md 8.5). */
#define PMEMSTREAM_OPEN_VERIFY_FULL (1u << 3)
/* Skip-corrupt salvage (issue 14). With PMEMSTREAM_OPEN_READ_ONLY (not with FOLLOW, SALVAGE or
 * POINT_IN_TIME): like SALVAGE, but a region's entries continue after a damaged one at the next
 * valid entry behind it; each range stepped over is a recovery problem. */
#define PMEMSTREAM_OPEN_SKIP_CORRUPT (1u << 5)

/*
 * Opens the stream in the file `path`.
 *  stream:     out; the new handle (set to NULL on failure)
 *  block_size: 0 accepts the stream's block size; anything else must equal it
 *  flags:      0 or a combination of PMEMSTREAM_OPEN_*
 * Returns 0, or fails with
 *  PMEMSTREAM_E_INVALID_ARGUMENT   NULL pointer, unknown flag, SALVAGE or FOLLOW without READ_ONLY,
 *                                  SALVAGE with POINT_IN_TIME, SKIP_CORRUPT without READ_ONLY or
 *                                  with SALVAGE, POINT_IN_TIME or FOLLOW
 *  PMEMSTREAM_E_PARAMETER_MISMATCH block_size differs from the stream's
 *  PMEMSTREAM_E_IO                 missing file, no permission, mapping failed
 *  PMEMSTREAM_E_NOT_A_STREAM, PMEMSTREAM_E_VERSION_MISMATCH, PMEMSTREAM_E_CORRUPT, -ENOMEM
 * Durability: a writable open persists the result of recovery before it returns.
 */
int pmemstream_open(struct pmemstream **stream, const char *path, uint64_t block_size, unsigned flags);

/*
 * Closes the stream and sets *stream to NULL. A writable stream records a clean shutdown
 * first. Does nothing when stream or *stream is NULL. Every iterator and reader of the stream
 * must be deleted before; region runtimes become invalid. A mapping passed to pmemstream_from_map()
 * stays the caller's to delete (after this call).
 */
void pmemstream_delete(struct pmemstream **stream);

/* ---- regions ---- */

/*
 * Allocates a region with at least `size` usable bytes (rounded up so the region with its
 * 256-byte header fills whole blocks).
 *  region: out, optional (NULL allowed); the new region
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream NULL, size 0),
 * PMEMSTREAM_E_OUT_OF_SPACE (no free span large enough), PMEMSTREAM_E_READ_ONLY,
 * PMEMSTREAM_E_MEDIA_FAILED, -ENOMEM.
 * Durability: the region is persisted on return.
 */
int pmemstream_region_allocate(struct pmemstream *stream, size_t size, struct pmemstream_region *region);

/*
 * Frees a region and all its entries; its space can be allocated again.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream NULL),
 * PMEMSTREAM_E_INVALID_HANDLE (not a live region, e.g. already freed), PMEMSTREAM_E_BUSY (a
 * reservation is outstanding in it), PMEMSTREAM_E_READ_ONLY, PMEMSTREAM_E_MEDIA_FAILED.
 * Durability: persisted on return.
 */
int pmemstream_region_free(struct pmemstream *stream, struct pmemstream_region region);

/*
 * Returns the usable size of the region: the bytes its entries can occupy in all (each entry
 * takes 16 header bytes plus its data rounded up to 8).
 * Returns 0 on error (stream NULL, not a live region); the message says which. A live region
 * is never 0 bytes, so 0 is unambiguous.
 */
size_t pmemstream_region_size(struct pmemstream *stream, struct pmemstream_region region);

/*
 * Returns the bytes still free for appends in the region.
 * Returns 0 on error (stream NULL, not a live region), which a full region also returns: use
 * pmemstream_region_get_info() to tell them apart.
 */
size_t pmemstream_region_usable_size(struct pmemstream *stream, struct pmemstream_region region);

/*
 * Returns the region's runtime (volatile append state) in *runtime. Passing it to
 * pmemstream_append/reserve/publish skips a lookup; passing NULL there works as well. The
 * runtime is owned by the stream and valid until pmemstream_delete(). Passed with another
 * region, or after its region was freed, it is refused with PMEMSTREAM_E_INVALID_HANDLE.
 *  runtime: out, optional (NULL: only prepares the region)
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream NULL),
 * PMEMSTREAM_E_INVALID_HANDLE, -ENOMEM.
 */
int pmemstream_region_runtime_initialize(struct pmemstream *stream, struct pmemstream_region region,
					 struct pmemstream_region_runtime **runtime);

/*
 * Number of committed entries in the region, in *count.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer),
 * PMEMSTREAM_E_INVALID_HANDLE.
 */
int pmemstream_region_entry_count(struct pmemstream *stream, struct pmemstream_region region, uint64_t *count);

struct pmemstream_region_info {
	uint64_t size;	      /* as pmemstream_region_size() */
	uint64_t usable_size; /* as pmemstream_region_usable_size() */
	uint64_t entry_count; /* committed entries */
	uint64_t reserved[5]; /* zero */
};

/*
 * Facts about a region, in *info.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer),
 * PMEMSTREAM_E_INVALID_HANDLE.
 */
int pmemstream_region_get_info(struct pmemstream *stream, struct pmemstream_region region,
			   struct pmemstream_region_info *info);

/* ---- appending ---- */

/*
 * Appends an entry of `size` bytes copied from `data` at the end of the region.
 *  runtime:   optional (NULL: looked up)
 *  data:      may be NULL only when size is 0
 *  new_entry: out, optional; the new entry
 * Returns 0, or fails with
 *  PMEMSTREAM_E_INVALID_ARGUMENT  stream NULL, data NULL with size > 0
 *  PMEMSTREAM_E_INVALID_HANDLE    not a live region
 *  PMEMSTREAM_E_REGION_FULL       the entry does not fit (the region is unchanged)
 *  PMEMSTREAM_E_ENTRY_TOO_LARGE   size above 4 GiB - 1
 *  PMEMSTREAM_E_BUSY              a reservation is outstanding in the region
 *  PMEMSTREAM_E_READ_ONLY, PMEMSTREAM_E_MEDIA_FAILED
 * Durability: returns once the entry, and every entry with a smaller timestamp, is committed
 * and persisted.
 */
int pmemstream_append(struct pmemstream *stream, struct pmemstream_region region,
		      struct pmemstream_region_runtime *runtime, const void *data, size_t size,
		      struct pmemstream_entry *new_entry);

/*
 * As pmemstream_append(), and also returns the new entry's timestamp: its place in the
 * stream's one order across regions, without a second call (pmemstream_entry_timestamp() on
 * the entry gives the same value as long as its region lives).
 *  new_entry: out, optional; the new entry
 *  timestamp: out, required; the new entry's timestamp (>= 1)
 * Outputs are written only on success. Returns 0, or fails with the errors of
 * pmemstream_append(), and with PMEMSTREAM_E_INVALID_ARGUMENT when timestamp is NULL (nothing
 * is appended then). When another thread frees the region during the call it can fail with
 * PMEMSTREAM_E_INVALID_HANDLE after appending; the entry is gone with its region.
 * Durability: as pmemstream_append(): on return every entry with a timestamp <= *timestamp
 * is committed and persisted.
 */
int pmemstream_append_with_timestamp(struct pmemstream *stream, struct pmemstream_region region,
				     struct pmemstream_region_runtime *runtime, const void *data, size_t size,
				     struct pmemstream_entry *new_entry, uint64_t *timestamp);

/*
 * Reserves `size` bytes at the end of the region for the caller to write at *data, then
 * publish with pmemstream_publish() or give up with pmemstream_cancel(). Several threads may
 * hold reservations in one region at once, one each: a second reserve by the same thread in
 * the same region replaces (cancels) its first. The entry takes its timestamp when published,
 * after the entries claimed before it in the region; entries claimed after it wait for its
 * publish or cancel. Nothing is visible or durable until published.
 *  runtime:        optional
 *  reserved_entry: out, required; pass it to pmemstream_publish()
 *  data:           out, required; where to write up to `size` bytes
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL stream, reserved_entry or data),
 * PMEMSTREAM_E_INVALID_HANDLE, PMEMSTREAM_E_REGION_FULL, PMEMSTREAM_E_ENTRY_TOO_LARGE,
 * PMEMSTREAM_E_READ_ONLY, PMEMSTREAM_E_MEDIA_FAILED.
 */
int pmemstream_reserve(struct pmemstream *stream, struct pmemstream_region region,
		       struct pmemstream_region_runtime *runtime, size_t size,
		       struct pmemstream_entry *reserved_entry, void **data);

/*
 * Publishes a reserved entry with `size` bytes (at most the reserved size; the unused rest of
 * the reservation is returned to the region).
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream NULL, size above the
 * reservation), PMEMSTREAM_E_INVALID_HANDLE (not the region's outstanding reservation),
 * PMEMSTREAM_E_READ_ONLY, PMEMSTREAM_E_MEDIA_FAILED.
 * Durability: as pmemstream_append().
 */
int pmemstream_publish(struct pmemstream *stream, struct pmemstream_region region,
		       struct pmemstream_region_runtime *runtime, struct pmemstream_entry entry, size_t size);

/*
 * Gives up a reservation made by pmemstream_reserve(): its space is given back, or becomes a
 * padding entry (never shown) when something was claimed after it in the region.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL stream),
 * PMEMSTREAM_E_INVALID_HANDLE (not an outstanding reservation), PMEMSTREAM_E_READ_ONLY,
 * PMEMSTREAM_E_MEDIA_FAILED.
 */
int pmemstream_cancel(struct pmemstream *stream, struct pmemstream_region region,
		      struct pmemstream_region_runtime *runtime, struct pmemstream_entry entry);

/* ---- watermarks ---- */

/* Every entry with a timestamp <= this is committed. 0 when none is (or stream is NULL). */
uint64_t pmemstream_committed_timestamp(struct pmemstream *stream);
/* Every entry with a timestamp <= this is persisted. Never above the committed timestamp.
 * 0 when none is (or stream is NULL). */
uint64_t pmemstream_persisted_timestamp(struct pmemstream *stream);

/* The last timestamp handed out to an append (committed or not yet); 0 when none was (or
 * stream is NULL). Every watermark is <= it. */
uint64_t pmemstream_last_timestamp(struct pmemstream *stream);

/* A timeout that never expires, for pmemstream_wait_committed(), pmemstream_wait_persisted()
 * and pmemstream_future_wait_timeout(). */
#define PMEMSTREAM_WAIT_FOREVER UINT64_MAX

/*
 * Persists every entry committed so far (also those of other threads), so that the persisted
 * timestamp reaches at least the committed timestamp seen at the call.
 *  persisted_timestamp: out, optional; the persisted timestamp on return
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream NULL),
 * PMEMSTREAM_E_MEDIA_FAILED (the stream takes no more writes), PMEMSTREAM_E_WRONG_PROCESS (a
 * child of fork()). On a read-only stream everything is persisted already: it returns 0.
 * Thread safety: any thread. Durability: every timestamp up to *persisted_timestamp is
 * persisted.
 */
int pmemstream_persist(struct pmemstream *stream, uint64_t *persisted_timestamp);

/*
 * Block until every entry with a timestamp <= `timestamp` is committed (visible) / persisted
 * (durable), or `timeout_ns` nanoseconds have passed (PMEMSTREAM_WAIT_FOREVER: no limit; 0:
 * a check that neither spins nor sleeps). The thread spins briefly, then sleeps in the
 * kernel until the watermark moves: an idle waiter uses no CPU. To make progress without
 * blocking, poll a future (pmemstream_future_poll()). pmemstream_wait_persisted() makes the entries
 * persistent itself when no other thread (or the commit worker) is doing it. Timestamp 0
 * returns 0 at once.
 * Returns 0, or fails with
 *  PMEMSTREAM_E_INVALID_ARGUMENT  stream NULL, or no append was handed `timestamp` yet (it is
 *                                 above pmemstream_last_timestamp())
 *  PMEMSTREAM_E_TIMED_OUT         the timeout expired first (errno ETIMEDOUT); nothing changed
 *  PMEMSTREAM_E_MEDIA_FAILED      the medium failed while persisting (wait_persisted only)
 *  PMEMSTREAM_E_WRONG_PROCESS     wait_persisted in a child of fork() for entries its parent
 *                                 has not persisted
 * Thread safety: any thread; any number of threads may wait at once.
 */
int pmemstream_wait_committed(struct pmemstream *stream, uint64_t timestamp, uint64_t timeout_ns);
int pmemstream_wait_persisted(struct pmemstream *stream, uint64_t timestamp, uint64_t timeout_ns);

/* ---- asynchronous appends and their futures ---- */

/*
 * The original pmemstream's asynchronous functions, with its names and parameters, over this
 * library's own futures instead of miniasync's (docs/c_api.md, "Asynchronous appends", has
 * the guide and the migration from miniasync).
 *
 * An asynchronous append writes and commits the entry in the calling thread before it
 * returns (iterators and readers see it at once), without waiting for it to be persisted; it
 * returns a future that is already complete and whose output carries the new entry, its
 * timestamp, or the error. A wait future completes when the committed or persisted
 * watermark reaches its timestamp; nothing happens before it is polled or waited on.
 * Making entries durable: a wait future for persistence (pmemstream_async_wait_persisted()),
 * pmemstream_wait_persisted(), pmemstream_persist(), or the library's commit worker on
 * msync media (files without DAX), which persists committed entries in groups on its own.
 * After a crash the visible entries are still a timestamp prefix: a committed entry that was
 * not persisted may be gone, and then every later one that was not persisted is gone too.
 * At most a fixed number of entries per region wait for persistence at once (64 by default):
 * the next asynchronous append to that region first persists the oldest (back-pressure,
 * never an error).
 *
 * A future is a plain value owned by the caller (copy it, keep it in an array); it holds no
 * resources, so an unfinished one can simply be dropped. One future must not be polled by
 * two threads at once; different futures may be used from any threads.
 */

/* A data mover of miniasync (libminiasync.h defines it). This library copies in the calling
 * thread: the vdm argument is accepted and not used, so NULL is the natural value. */
struct vdm;

/* What pmemstream_future_poll() returns; the same order as miniasync's enum future_state. */
enum pmemstream_future_state {
	PMEMSTREAM_FUTURE_STATE_IDLE = 0,     /* created, not polled yet */
	PMEMSTREAM_FUTURE_STATE_COMPLETE = 1, /* done: its output is final (error_code says how) */
	PMEMSTREAM_FUTURE_STATE_RUNNING = 2,  /* polled, not done yet */
};

/* The part every future starts with; pass &fut.base (PMEMSTREAM_FUTURE(&fut)) to the
 * pmemstream_future_* functions. Its fields are the library's: do not change them. */
struct pmemstream_future {
	uint32_t state; /* enum pmemstream_future_state; pmemstream_future_poll() returns it */
	uint32_t kind;	/* which operation the future belongs to */
};

/* &fut->base of any future below, for the pmemstream_future_* functions. */
#define PMEMSTREAM_FUTURE(fut) (&(fut)->base)
/* The output of any future below (miniasync's FUTURE_OUTPUT). */
#define PMEMSTREAM_FUTURE_OUTPUT(fut) (&(fut)->output)

struct pmemstream_async_append_output {
	int error_code;			    /* 0, or the specific code (PMEMSTREAM_E_*, -ENOMEM) */
	struct pmemstream_entry new_entry;  /* the new entry (on success) */
	uint64_t timestamp;		    /* its timestamp (on success) */
};

struct pmemstream_async_append_fut {
	struct pmemstream_future base;
	struct pmemstream_async_append_output output;
};

struct pmemstream_async_publish_output {
	int error_code;	    /* 0, or the specific code */
	uint64_t timestamp; /* the published entry's timestamp (on success) */
};

struct pmemstream_async_publish_fut {
	struct pmemstream_future base;
	struct pmemstream_async_publish_output output;
};

struct pmemstream_async_wait_data {
	struct pmemstream *stream;
	uint64_t timestamp; /* the target: every entry up to it */
};

struct pmemstream_async_wait_output {
	int error_code;	    /* 0, or the specific code */
	uint64_t watermark; /* the committed / persisted timestamp seen at completion (>= the target) */
};

struct pmemstream_async_wait_fut {
	struct pmemstream_future base;
	struct pmemstream_async_wait_data data;
	struct pmemstream_async_wait_output output;
};

/*
 * Appends an entry of `size` bytes copied from `data`, as pmemstream_append(), but returns
 * once it is committed, without waiting for it to be persisted. The returned future is
 * complete; output.error_code is 0 and output.new_entry and output.timestamp name the entry,
 * or output.error_code holds the failure, which is also recorded in the calling thread as
 * for any failing call (errno, pmemstream_errno(), pmemstream_errormsg()).
 *  vdm:       accepted and not used (the calling thread copies); NULL is fine
 *  runtime:   optional (NULL: looked up)
 *  data:      may be NULL only when size is 0; read before the call returns
 *  new_entry: out, optional; the new entry, as in output.new_entry (written on success)
 * Errors (in output.error_code): those of pmemstream_append().
 * Durability: none on return; the entry is durable once the persisted timestamp reaches
 * output.timestamp. Thread safety: as pmemstream_append().
 */
struct pmemstream_async_append_fut pmemstream_async_append(struct pmemstream *stream, struct vdm *vdm,
							   struct pmemstream_region region,
							   struct pmemstream_region_runtime *runtime, const void *data,
							   size_t size, struct pmemstream_entry *new_entry);

/*
 * Publishes a reserved entry, as pmemstream_publish(), but returns once it is committed. The
 * returned future is complete; output.error_code and output.timestamp as above.
 * Errors (in output.error_code): those of pmemstream_publish().
 * Durability: none on return, as pmemstream_async_append().
 */
struct pmemstream_async_publish_fut pmemstream_async_publish(struct pmemstream *stream, struct pmemstream_region region,
							     struct pmemstream_region_runtime *runtime,
							     struct pmemstream_entry entry, size_t size);

/*
 * A future that completes when every entry with a timestamp <= `timestamp` is committed /
 * persisted (timestamp 0: at its first poll). Polling the persisted one does the persisting
 * work when no other thread is doing it, so a thread that only polls still completes it.
 * Failures at creation (stream NULL: PMEMSTREAM_E_INVALID_ARGUMENT; a timestamp above
 * pmemstream_last_timestamp(): PMEMSTREAM_E_INVALID_ARGUMENT) give a complete future with
 * output.error_code set, recorded in the calling thread. Later failures of a wait for
 * persistence (PMEMSTREAM_E_MEDIA_FAILED, PMEMSTREAM_E_WRONG_PROCESS as for
 * pmemstream_wait_persisted()) complete it with output.error_code set and are recorded in the
 * thread that polls or waits; a wait for commit cannot fail after its creation.
 */
struct pmemstream_async_wait_fut pmemstream_async_wait_committed(struct pmemstream *stream, uint64_t timestamp);
struct pmemstream_async_wait_fut pmemstream_async_wait_persisted(struct pmemstream *stream, uint64_t timestamp);

/*
 * Advances the future without blocking and returns its state: PMEMSTREAM_FUTURE_STATE_COMPLETE
 * once done (then output.error_code tells success from failure; a failure found by this call
 * is recorded in the calling thread), PMEMSTREAM_FUTURE_STATE_RUNNING otherwise. This is
 * miniasync's future_poll(): `while (pmemstream_future_poll(PMEMSTREAM_FUTURE(&fut)) !=
 * PMEMSTREAM_FUTURE_STATE_COMPLETE)` busy-polls, pmemstream_future_wait() sleeps instead.
 * A NULL future, or one not made by this library, returns PMEMSTREAM_FUTURE_STATE_COMPLETE
 * and fails with PMEMSTREAM_E_INVALID_ARGUMENT (so such a loop ends).
 */
enum pmemstream_future_state pmemstream_future_poll(struct pmemstream_future *future);

/*
 * Blocks until the future is complete (sleeping in the kernel, not spinning), or at most
 * `timeout_ns` nanoseconds (PMEMSTREAM_WAIT_FOREVER: no limit).
 * Returns 0 when it completed with output.error_code 0. Fails with output.error_code when
 * it completed with an error (errno and pmemstream_errno() are set again; the message is
 * kept when the thread's last failure is that error, otherwise it names the code), with
 * PMEMSTREAM_E_TIMED_OUT when the timeout expired first (the future stays running: poll or
 * wait again), and with PMEMSTREAM_E_INVALID_ARGUMENT for a NULL future or one not made by
 * this library.
 * Thread safety: as pmemstream_future_poll().
 */
int pmemstream_future_wait(struct pmemstream_future *future);
int pmemstream_future_wait_timeout(struct pmemstream_future *future, uint64_t timeout_ns);

/* ---- entries ---- */

/*
 * Returns a pointer to the entry's data (inside the mapping; valid until the region is freed
 * or the stream deleted; read-only), non-NULL also for a 0-byte entry. NULL on error (stream
 * NULL, not a committed entry).
 */
const void *pmemstream_entry_data(struct pmemstream *stream, struct pmemstream_entry entry);

/*
 * Returns the entry's size in bytes. Returns 0 on error (stream NULL, not a committed entry),
 * which a 0-byte entry also returns: use pmemstream_entry_get_info() to tell them apart.
 */
size_t pmemstream_entry_size(struct pmemstream *stream, struct pmemstream_entry entry);

/* Returns the entry's timestamp (>= 1); 0 on error (stream NULL, not a committed entry). */
uint64_t pmemstream_entry_timestamp(struct pmemstream *stream, struct pmemstream_entry entry);

struct pmemstream_entry_info {
	const void *data;		 /* as pmemstream_entry_data() */
	uint64_t size;			 /* bytes */
	uint64_t timestamp;		 /* >= 1 */
	struct pmemstream_region region; /* region holding the entry */
	uint64_t reserved[4];		 /* zero */
};

/*
 * Facts about a committed entry, in *info.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer),
 * PMEMSTREAM_E_INVALID_HANDLE.
 */
int pmemstream_entry_get_info(struct pmemstream *stream, struct pmemstream_entry entry, struct pmemstream_entry_info *info);

/* ---- the stream ---- */

struct pmemstream_info {
	uint64_t format_version;
	uint64_t size;		  /* bytes of the stream */
	uint64_t block_size;
	uint64_t arena_offset;	  /* first byte of the region space */
	uint64_t arena_size;
	uint64_t region_count;
	uint64_t allocated_bytes; /* bytes held by regions, headers included */
	uint64_t free_bytes;	  /* bytes in free spans */
	uint64_t largest_free;	  /* largest region size that pmemstream_region_allocate() accepts now */
	uint64_t committed_timestamp;
	uint64_t persisted_timestamp;
	uint32_t read_only; /* 1 when opened read-only */
	uint32_t reserved32;
	uint64_t reserved[8]; /* zero */
};

/*
 * Facts about the stream, in *info.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer), -ENOMEM.
 */
int pmemstream_stream_get_info(struct pmemstream *stream, struct pmemstream_info *info);

/* ---- recovery report: what the open found and did (issue 14) ---- */

/*
 * What recovery found and did when the stream was opened (the C++ stream::recovery()): the
 * scalar facts and the number of problems, dropped cuts and skipped ranges, each read by
 * index with the functions below. Fixed once the open returns. The caller sets `size` to
 * sizeof(struct pmemstream_recovery_report) before the call, so that the structure can grow:
 * a later library fills only what a caller built against this header knows of, and tells by
 * `size` what it filled.
 */
struct pmemstream_recovery_report {
	uint64_t size;		       /* in: the caller's size of this structure; out: bytes filled */
	uint64_t regions;	       /* live regions after recovery */
	uint64_t entries;	       /* visible entries */
	uint64_t torn_tails;	       /* regions whose entries end at a torn write (nothing lost) */
	uint64_t trimmed_entries;      /* complete entries hidden to keep the timestamp prefix */
	uint64_t checkpointed_regions; /* regions whose walk started at a trusted checkpoint */
	uint64_t repair_cut;	       /* POINT_IN_TIME: every entry kept has a timestamp <= this */
	uint64_t problem_count;	       /* damage found (SALVAGE, SKIP_CORRUPT) */
	uint64_t dropped_count;	       /* POINT_IN_TIME: regions that lost entries */
	uint64_t skipped_count;	       /* SKIP_CORRUPT: damaged ranges stepped over */
	uint32_t live_writer;	       /* read-only: 1 when a writer had the stream open */
	uint32_t reserved32;	       /* zero */
};

/* One problem (damage) found by recovery. Strings stay valid until pmemstream_delete(). */
struct pmemstream_recovery_problem {
	uint64_t size;		/* in/out, as in struct pmemstream_recovery_report */
	uint64_t region_offset; /* 0 when not tied to one region */
	uint64_t entry_offset;	/* 0 when not tied to one entry */
	const char *what;	/* never NULL */
};

/* What a POINT_IN_TIME repair dropped from one region. */
struct pmemstream_recovery_dropped {
	uint64_t size; /* in/out, as in struct pmemstream_recovery_report */
	uint64_t region_offset;
	uint64_t offset;	  /* where the cut starts: the first dropped (or damaged) entry */
	uint64_t entries;	  /* valid entries dropped (padding not counted) */
	uint64_t first_timestamp; /* of the valid entries dropped (0: none) */
	uint64_t last_timestamp;
	uint32_t damaged;    /* 1: the region was cut at damage; 0: only above the repair cut */
	uint32_t reserved32; /* zero */
	const char *why;     /* the damage (never NULL; "" when not damaged) */
};

/* A damaged range [offset, offset + bytes) of a region that a SKIP_CORRUPT open stepped over;
 * the entry at offset + bytes is valid and shown. */
struct pmemstream_recovery_skipped {
	uint64_t size; /* in/out, as in struct pmemstream_recovery_report */
	uint64_t region_offset;
	uint64_t offset;
	uint64_t bytes;
	const char *why; /* never NULL */
};

/*
 * Fills *report with what recovery found and did at the open. report->size must be set by
 * the caller: at least 88 (the size of this structure's first version); fields the library
 * knows are filled, any bytes beyond them up to report->size are zeroed, and report->size is
 * set to the bytes filled.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream or report NULL,
 * report->size below 88); *report is then unchanged.
 * Thread safety: any thread (the report does not change after the open).
 */
int pmemstream_recovery_get_report(struct pmemstream *stream, struct pmemstream_recovery_report *report);

/*
 * Fills *problem with the recovery problem number `index` (0 .. problem_count - 1, in the
 * order recovery found them). problem->size as for pmemstream_recovery_get_report() (at
 * least 32); problem->what points into the stream and is valid until pmemstream_delete().
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream or problem NULL,
 * problem->size too small, index >= problem_count).
 * Thread safety: any thread.
 */
int pmemstream_recovery_get_problem(struct pmemstream *stream, uint64_t index, struct pmemstream_recovery_problem *problem);

/*
 * Fills *dropped with what a POINT_IN_TIME repair dropped from the region number `index`
 * (0 .. dropped_count - 1, one per region that lost entries). dropped->size as for
 * pmemstream_recovery_get_report() (at least 64); dropped->why is valid until
 * pmemstream_delete().
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream or dropped NULL,
 * dropped->size too small, index >= dropped_count).
 * Thread safety: any thread.
 */
int pmemstream_recovery_get_dropped(struct pmemstream *stream, uint64_t index, struct pmemstream_recovery_dropped *dropped);

/*
 * Fills *skipped with the damaged range number `index` (0 .. skipped_count - 1) that a
 * SKIP_CORRUPT open stepped over. skipped->size as for pmemstream_recovery_get_report() (at
 * least 40); skipped->why is valid until pmemstream_delete().
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream or skipped NULL,
 * skipped->size too small, index >= skipped_count).
 * Thread safety: any thread.
 */
int pmemstream_recovery_get_skipped(struct pmemstream *stream, uint64_t index, struct pmemstream_recovery_skipped *skipped);

int pmemstream_recovery_get_report_errc(struct pmemstream *stream, struct pmemstream_recovery_report *report);
int pmemstream_recovery_get_problem_errc(struct pmemstream *stream, uint64_t index,
					 struct pmemstream_recovery_problem *problem);
int pmemstream_recovery_get_dropped_errc(struct pmemstream *stream, uint64_t index,
					 struct pmemstream_recovery_dropped *dropped);
int pmemstream_recovery_get_skipped_errc(struct pmemstream *stream, uint64_t index,
					 struct pmemstream_recovery_skipped *skipped);
#ifdef PMEMSTREAM_SPECIFIC_ERRORS
#define pmemstream_recovery_get_report pmemstream_recovery_get_report_errc
#define pmemstream_recovery_get_problem pmemstream_recovery_get_problem_errc
#define pmemstream_recovery_get_dropped pmemstream_recovery_get_dropped_errc
#define pmemstream_recovery_get_skipped pmemstream_recovery_get_skipped_errc
#endif /* PMEMSTREAM_SPECIFIC_ERRORS */

/* ---- region iterator: live regions in allocation order ---- */

/*
 * Creates an iterator positioned at the first region (if any).
 *  iterator: out; set to NULL on failure
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer), -ENOMEM.
 */
int pmemstream_region_iterator_new(struct pmemstream_region_iterator **iterator, struct pmemstream *stream);
/* Returns 0 when the iterator is on a region. Past the last one it fails with
 * PMEMSTREAM_E_INVALID_HANDLE (returns -1, as the original did), for NULL with
 * PMEMSTREAM_E_INVALID_ARGUMENT. Like every failure, "not valid" replaces the thread's
 * pmemstream_errormsg() with its own message. */
int pmemstream_region_iterator_is_valid(struct pmemstream_region_iterator *iterator);
/* Moves to the first region. NULL is ignored. */
void pmemstream_region_iterator_seek_first(struct pmemstream_region_iterator *iterator);
/* Moves to the next region. NULL is ignored. */
void pmemstream_region_iterator_next(struct pmemstream_region_iterator *iterator);
/* Returns the current region; {PMEMSTREAM_INVALID_OFFSET} when not valid (fails with
 * PMEMSTREAM_E_INVALID_HANDLE) or NULL (PMEMSTREAM_E_INVALID_ARGUMENT). */
struct pmemstream_region pmemstream_region_iterator_get(struct pmemstream_region_iterator *iterator);
/* Deletes the iterator and sets *iterator to NULL. NULL is ignored. */
void pmemstream_region_iterator_delete(struct pmemstream_region_iterator **iterator);

/* ---- entry iterator: committed entries of one region in append order ---- */

/*
 * Creates an iterator positioned at the region's first entry (if any). After the last entry
 * it becomes invalid; an entry appended later makes it valid again at that entry (tailing).
 *  iterator: out; set to NULL on failure
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer),
 * PMEMSTREAM_E_INVALID_HANDLE (not a live region), -ENOMEM.
 */
int pmemstream_entry_iterator_new(struct pmemstream_entry_iterator **iterator, struct pmemstream *stream,
				  struct pmemstream_region region);
/* Returns 0 when the iterator is on a committed entry. When not (past the last entry, region
 * freed: the message says which) it fails with PMEMSTREAM_E_INVALID_HANDLE (returns -1, as
 * the original did), for NULL with PMEMSTREAM_E_INVALID_ARGUMENT. Like every failure, "not
 * valid" replaces the thread's pmemstream_errormsg(). */
int pmemstream_entry_iterator_is_valid(struct pmemstream_entry_iterator *iterator);
/* Moves to the region's first entry. NULL is ignored. */
void pmemstream_entry_iterator_seek_first(struct pmemstream_entry_iterator *iterator);
/* Moves to the next entry. NULL is ignored. */
void pmemstream_entry_iterator_next(struct pmemstream_entry_iterator *iterator);
/* Returns the current entry; {PMEMSTREAM_INVALID_OFFSET} when not valid (fails with
 * PMEMSTREAM_E_INVALID_HANDLE) or NULL (PMEMSTREAM_E_INVALID_ARGUMENT). */
struct pmemstream_entry pmemstream_entry_iterator_get(struct pmemstream_entry_iterator *iterator);
/*
 * Moves the iterator to `entry`, which must be a committed entry of the iterator's region
 * (e.g. one saved from pmemstream_entry_iterator_get() or pmemstream_append()), so that a
 * walk can resume there.
 * Returns 0, or fails with
 *  PMEMSTREAM_E_INVALID_ARGUMENT  iterator NULL
 *  PMEMSTREAM_E_INVALID_HANDLE    entry is not a committed entry of the iterator's region: an
 *                                 entry of another region, an offset that is not an entry's,
 *                                 an entry not committed yet, or the region was freed
 * On failure the position is unchanged. An entry handle is checked structurally, as the
 * accessors check it (docs/design.md, "Limits").
 */
int pmemstream_entry_iterator_seek(struct pmemstream_entry_iterator *iterator, struct pmemstream_entry entry);
/*
 * Moves the iterator to the first entry of its region whose timestamp is >= `timestamp` (0
 * and 1 both mean the first entry). When no committed entry has one, the iterator is at the
 * end and waits for one: it turns valid at the first entry appended to the region with such a
 * timestamp, stepping over any appended before it with a smaller one. Walks the region from
 * its start, O(entries before the target).
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (iterator NULL),
 * PMEMSTREAM_E_INVALID_HANDLE (the iterator's region was freed; the position is unchanged).
 */
int pmemstream_entry_iterator_seek_timestamp(struct pmemstream_entry_iterator *iterator, uint64_t timestamp);
/* Deletes the iterator and sets *iterator to NULL. NULL is ignored. */
void pmemstream_entry_iterator_delete(struct pmemstream_entry_iterator **iterator);

/* ---- stream reader: committed entries of all regions in timestamp order ---- */

/*
 * A reader yields the committed entries of every live region merged into one order, by
 * increasing timestamp: the order in which they were appended across the whole stream, which
 * is what a replay of the stream needs. Its position is a timestamp: it is on the live,
 * committed entry with the smallest timestamp not below that position. So it follows the
 * stream: entries committed later, also in regions allocated after the reader was created,
 * appear in order; the entries of a region freed since stop appearing (even the one the
 * reader was on). Each entry appears once per pass, and the timestamps of a pass strictly
 * increase.
 * Thread safety: one reader must not be used by two threads at once; many readers (one per
 * thread) may read a stream while other threads append. Every reader must be deleted before
 * pmemstream_delete().
 */

/*
 * Creates a reader positioned at the entry with the smallest timestamp (if any).
 *  reader: out; set to NULL on failure
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer), -ENOMEM.
 */
int pmemstream_stream_reader_new(struct pmemstream_stream_reader **reader, struct pmemstream *stream);
/* Returns 0 when the reader is on a committed entry. When not (past the last committed
 * entry; it turns valid when the next entry in timestamp order is committed) it fails with
 * PMEMSTREAM_E_INVALID_HANDLE (returns -1, like the iterators), for NULL with
 * PMEMSTREAM_E_INVALID_ARGUMENT, and can fail with -ENOMEM (while it takes in regions
 * allocated since its last call; the next call tries again). Like every failure, "not
 * valid" replaces the thread's pmemstream_errormsg(). */
int pmemstream_stream_reader_is_valid(struct pmemstream_stream_reader *reader);
/* Moves to the entry with the smallest timestamp. NULL is ignored. */
void pmemstream_stream_reader_seek_first(struct pmemstream_stream_reader *reader);
/*
 * Moves to the first entry whose timestamp is >= `timestamp` (0 and 1 mean the first
 * entry). When no committed entry has one, the reader is past the end until one is committed
 * (entries with smaller timestamps committed meanwhile are not shown). Walks every region
 * from its start, O(entries before the target).
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (reader NULL), -ENOMEM (the position
 * is set all the same; the reader tries again at its next use).
 */
int pmemstream_stream_reader_seek_timestamp(struct pmemstream_stream_reader *reader, uint64_t timestamp);
/* Moves to the entry with the next larger timestamp. Does nothing when the reader is not
 * valid (so it cannot skip the entry that makes it valid) or NULL. */
void pmemstream_stream_reader_next(struct pmemstream_stream_reader *reader);
/* Returns the current entry; {PMEMSTREAM_INVALID_OFFSET} when not valid (fails with
 * PMEMSTREAM_E_INVALID_HANDLE) or NULL (PMEMSTREAM_E_INVALID_ARGUMENT). */
struct pmemstream_entry pmemstream_stream_reader_get(struct pmemstream_stream_reader *reader);
/* Returns the region of the current entry; {PMEMSTREAM_INVALID_OFFSET} when not valid (fails
 * with PMEMSTREAM_E_INVALID_HANDLE) or NULL (PMEMSTREAM_E_INVALID_ARGUMENT). */
struct pmemstream_region pmemstream_stream_reader_get_region(struct pmemstream_stream_reader *reader);
/* Returns the timestamp of the current entry (>= 1); 0 when not valid (fails with
 * PMEMSTREAM_E_INVALID_HANDLE) or NULL (PMEMSTREAM_E_INVALID_ARGUMENT). */
uint64_t pmemstream_stream_reader_get_timestamp(struct pmemstream_stream_reader *reader);
/* Deletes the reader and sets *reader to NULL. NULL is ignored. */
void pmemstream_stream_reader_delete(struct pmemstream_stream_reader **reader);

/* ---- truncation ---- */
/* (issue 14: region clear, prefix and suffix truncation) */

/*
 * Each of these waits for an append in progress in the region, persists the region's entries,
 * raises the stream's timestamp floor over them (the dropped timestamps are never handed out
 * again; entries of other regions, also with larger timestamps, stay visible) and then makes
 * the cut with one atomic header update or one zeroed entry header. docs/format.md 5,
 * docs/design.md 5.5, pmemstream_region_clear(3).
 *  dropped: out, optional (NULL allowed); the number of entries removed
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (stream NULL),
 * PMEMSTREAM_E_INVALID_HANDLE (not a live region; `entry` is not a committed entry of it),
 * PMEMSTREAM_E_BUSY (a reservation is outstanding in the region), PMEMSTREAM_E_READ_ONLY,
 * PMEMSTREAM_E_WRONG_PROCESS, PMEMSTREAM_E_MEDIA_FAILED, PMEMSTREAM_E_OUT_OF_SPACE (clear:
 * epochs exhausted), -ENOMEM.
 * Durability: persisted on return; after a crash at any point the region shows every entry it
 * had or exactly the ones the call keeps.
 * Thread safety: like pmemstream_region_free(). An entry iterator of this process on a removed
 * entry stops being valid, and pmemstream_entry_iterator_is_valid() then fails with
 * PMEMSTREAM_E_TRUNCATED (seek it again); a stream reader continues by itself. An entry
 * handle of a removed entry is refused, but after a clear, a suffix cut or a wrap a later
 * append may put a new entry at its offset, which the old handle then names (as after a free).
 */
/* Removes every entry of the region in O(1) (no zeroing): new checksum epoch, same region
 * handle and place in region order, the whole space free for appends again. */
int pmemstream_region_clear(struct pmemstream *stream, struct pmemstream_region region, uint64_t *dropped);
/* Prefix truncation: removes every entry before `entry`, which becomes the first (one header
 * update). The space before it is reused: an append that no longer fits after the region's
 * last entry wraps the region to its start (streams created by this version). */
int pmemstream_region_truncate_before(struct pmemstream *stream, struct pmemstream_region region,
				      struct pmemstream_entry entry, uint64_t *dropped);
/* Prefix truncation by timestamp: removes every entry with a timestamp below `timestamp`;
 * when that is all of them, clears the region. */
int pmemstream_region_truncate_before_timestamp(struct pmemstream *stream, struct pmemstream_region region,
						uint64_t timestamp, uint64_t *dropped);
/* Suffix truncation: removes every entry after `entry`; appends continue right after it with
 * new timestamps. */
int pmemstream_region_truncate_after(struct pmemstream *stream, struct pmemstream_region region,
				     struct pmemstream_entry entry, uint64_t *dropped);
int pmemstream_region_clear_errc(struct pmemstream *stream, struct pmemstream_region region, uint64_t *dropped);
int pmemstream_region_truncate_before_errc(struct pmemstream *stream, struct pmemstream_region region,
					   struct pmemstream_entry entry, uint64_t *dropped);
int pmemstream_region_truncate_before_timestamp_errc(struct pmemstream *stream, struct pmemstream_region region,
						     uint64_t timestamp, uint64_t *dropped);
int pmemstream_region_truncate_after_errc(struct pmemstream *stream, struct pmemstream_region region,
					  struct pmemstream_entry entry, uint64_t *dropped);
#ifdef PMEMSTREAM_SPECIFIC_ERRORS
#define pmemstream_region_clear pmemstream_region_clear_errc
#define pmemstream_region_truncate_before pmemstream_region_truncate_before_errc
#define pmemstream_region_truncate_before_timestamp pmemstream_region_truncate_before_timestamp_errc
#define pmemstream_region_truncate_after pmemstream_region_truncate_after_errc
#endif /* PMEMSTREAM_SPECIFIC_ERRORS */

/* ---- live readers: one writer process and many reader processes (issue 12) ---- */

/*
 * A stream opened with PMEMSTREAM_OPEN_READ_ONLY | PMEMSTREAM_OPEN_FOLLOW while a writer
 * process has the file follows that writer: its iterators, readers and accessors see the entries the writer
 * commits, in place (no reopen), each checked as recovery checks entries and bounded by the
 * committed watermark the writer publishes in a small shared-memory object
 * (/dev/shm/pmemstream-<dev>-<ino>.readers). Regions the writer allocates appear; an iterator
 * of a region it frees fails its wait with PMEMSTREAM_E_REGION_FREED. A reader never writes to
 * the stream file. When the writer goes (closes, dies, or a new writer takes the file over)
 * waits and accessors fail with PMEMSTREAM_E_WRITER_GONE: open the stream again (a new
 * writer's recovery keeps every committed entry a killed writer left).
 */

/* pmemstream_wait_for(): the next entry committed after the call. */
#define PMEMSTREAM_NEXT_ENTRY 0

/*
 * Blocks until the entry with `timestamp` (PMEMSTREAM_NEXT_ENTRY: the first entry above the
 * committed watermark at the call) and every entry before it are visible to this stream's
 * iterators, at most `timeout_ns` nanoseconds (PMEMSTREAM_WAIT_FOREVER: no limit; 0: check
 * only). Spins briefly, then sleeps in the kernel (FUTEX_WAIT on the watermark's word: an idle
 * waiter uses no CPU; the writer pays for a wake-up only while someone waits). Works in the
 * writer's process and in a read-only stream that follows a writer process; a blocked wait
 * of a follower checks every 100 ms that the writer still holds its lock, so it ends when the
 * writer dies.
 * Returns 0, or fails with
 *  PMEMSTREAM_E_INVALID_ARGUMENT  stream NULL
 *  PMEMSTREAM_E_TIMED_OUT         the timeout expired (or a signal arrived) first
 *  PMEMSTREAM_E_WRITER_GONE       the writer closed, died or was replaced, or the read-only
 *                                 stream follows no writer (none was live at open)
 *  PMEMSTREAM_E_WRONG_PROCESS     a child of fork() of the writer
 * Thread safety: any thread; any number of threads may wait at once.
 */
int pmemstream_wait_for(struct pmemstream *stream, uint64_t timestamp, uint64_t timeout_ns);
/*
 * Blocks until pmemstream_entry_iterator_is_valid() would return 0 (the region's next entry
 * is committed), at most `timeout_ns`, as pmemstream_wait_for().
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL), PMEMSTREAM_E_TIMED_OUT,
 * PMEMSTREAM_E_REGION_FREED (the iterator's region was freed: for good),
 * PMEMSTREAM_E_WRITER_GONE, PMEMSTREAM_E_WRONG_PROCESS.
 * Thread safety: as the iterator's other calls (one thread at a time).
 */
int pmemstream_entry_iterator_wait(struct pmemstream_entry_iterator *iterator, uint64_t timeout_ns);
/*
 * Blocks until pmemstream_stream_reader_is_valid() would return 0 (the next entry in
 * timestamp order is committed), at most `timeout_ns`, as pmemstream_wait_for().
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL), PMEMSTREAM_E_TIMED_OUT,
 * PMEMSTREAM_E_WRITER_GONE, PMEMSTREAM_E_WRONG_PROCESS, -ENOMEM.
 * Thread safety: as the reader's other calls (one thread at a time).
 */
int pmemstream_stream_reader_wait(struct pmemstream_stream_reader *reader, uint64_t timeout_ns);

/* What pmemstream_writer_state() returns. */
#define PMEMSTREAM_WRITER_SELF 0	/* this stream is the writer */
#define PMEMSTREAM_WRITER_FOLLOWING 1 /* read-only, following a writer that holds the file now */
#define PMEMSTREAM_WRITER_GONE 2	/* read-only, its writer closed, died or was replaced */
#define PMEMSTREAM_WRITER_NONE 3	/* read-only snapshot: no FOLLOW, or no writer was live at open */
/*
 * Tells a dead writer from a quiet one: for a following stream it checks the writer's lock
 * (a system call). Returns one of PMEMSTREAM_WRITER_*, or -1 for a NULL stream
 * (PMEMSTREAM_E_INVALID_ARGUMENT in pmemstream_errno()).
 * Thread safety: any thread.
 */
int pmemstream_writer_state(struct pmemstream *stream);

/* ---- transactions (issue 13) ---- */

/*
 * A group of appends to any regions, region allocations and region frees that becomes
 * visible and durable all at once: after a crash at any moment either all of it is there or
 * none. The members are copied into the transaction and written only by its commit, all of
 * them with one fence; readers never see part of a committed transaction (its entries get one
 * block of consecutive timestamps). One thread at a time; it must not outlive its stream.
 * pmemstream_tx_commit(), pmemstream_tx_async_commit() and pmemstream_tx_abort() delete it.
 * Every function returning int comes with an _errc variant (see the end of this header).
 */
struct pmemstream_tx;

/* Members (appends, allocations and frees) a transaction holds at most. */
#define PMEMSTREAM_TX_MAX_MEMBERS 4096

/*
 * Starts a transaction in *tx.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (tx or stream NULL),
 * PMEMSTREAM_E_READ_ONLY, PMEMSTREAM_E_WRONG_PROCESS, PMEMSTREAM_E_MEDIA_FAILED,
 * PMEMSTREAM_E_VERSION_MISMATCH (a stream created by a library without transactions), -ENOMEM.
 */
int pmemstream_tx_begin(struct pmemstream_tx **tx, struct pmemstream *stream);

/*
 * Adds an entry of `size` bytes copied from `data` (NULL only when size is 0) for `region`:
 * a live region, or one this transaction allocates.
 * Returns 0, or fails with (the transaction is unchanged)
 *  PMEMSTREAM_E_INVALID_ARGUMENT  tx NULL, data NULL with size > 0, a region this
 *                                 transaction frees
 *  PMEMSTREAM_E_INVALID_HANDLE    not a live region
 *  PMEMSTREAM_E_REGION_FULL       the region has no room for it after the transaction's
 *                                 earlier entries for it
 *  PMEMSTREAM_E_ENTRY_TOO_LARGE, PMEMSTREAM_E_TX_TOO_LARGE, PMEMSTREAM_E_TX_FINISHED,
 *  PMEMSTREAM_E_READ_ONLY, -ENOMEM
 */
int pmemstream_tx_append(struct pmemstream_tx *tx, struct pmemstream_region region, const void *data, size_t size);

/*
 * Adds the allocation of a region of at least `size` usable bytes; *region names it for
 * pmemstream_tx_append() of this transaction at once, and for everything else once the commit
 * returned. The space is set aside until the transaction ends.
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (NULL pointer, size 0),
 * PMEMSTREAM_E_OUT_OF_SPACE, PMEMSTREAM_E_TX_TOO_LARGE, PMEMSTREAM_E_TX_FINISHED,
 * PMEMSTREAM_E_READ_ONLY, -ENOMEM.
 */
int pmemstream_tx_region_allocate(struct pmemstream_tx *tx, size_t size, struct pmemstream_region *region);

/*
 * Adds the free of a live region (gone with its entries once the commit returns).
 * Returns 0, or fails with PMEMSTREAM_E_INVALID_ARGUMENT (tx NULL; the region holds entries
 * of this transaction, is freed or allocated by it), PMEMSTREAM_E_INVALID_HANDLE,
 * PMEMSTREAM_E_TX_TOO_LARGE, PMEMSTREAM_E_TX_FINISHED, PMEMSTREAM_E_READ_ONLY, -ENOMEM.
 */
int pmemstream_tx_region_free(struct pmemstream_tx *tx, struct pmemstream_region region);

/*
 * Writes the transaction and deletes it, whatever the outcome. On success *timestamp
 * (optional) is the timestamp of its last entry (an empty transaction: the committed
 * timestamp).
 * Returns 0, or fails with the errors of pmemstream_tx_append() found again at the commit
 * (PMEMSTREAM_E_REGION_FULL when other appends took the room, PMEMSTREAM_E_INVALID_HANDLE when
 * a region was freed), PMEMSTREAM_E_BUSY (a reservation is outstanding in one of its regions),
 * PMEMSTREAM_E_MEDIA_FAILED, PMEMSTREAM_E_TIMESTAMPS_EXHAUSTED; then nothing of it is visible,
 * now or after a reopen. A NULL tx fails with PMEMSTREAM_E_INVALID_ARGUMENT.
 * Durability: on return all of it is committed and persisted (one fence for the entries on
 * persistent memory, plus two per region allocated or freed).
 */
int pmemstream_tx_commit(struct pmemstream_tx *tx, uint64_t *timestamp);

/*
 * As pmemstream_tx_commit(), but returns once the transaction is committed (visible), without
 * waiting for it to be persisted (a transaction with allocations or frees waits anyway). The
 * future is complete: output.error_code is 0 and output.timestamp the last entry's timestamp,
 * for pmemstream_wait_persisted() or pmemstream_async_wait_persisted(), or output.error_code
 * holds the failure (also recorded in the calling thread). Deletes the transaction.
 */
struct pmemstream_async_publish_fut pmemstream_tx_async_commit(struct pmemstream_tx *tx);

/* Drops the transaction (nothing of it was written) and deletes it. NULL is ignored. */
void pmemstream_tx_abort(struct pmemstream_tx *tx);

int pmemstream_tx_begin_errc(struct pmemstream_tx **tx, struct pmemstream *stream);
int pmemstream_tx_append_errc(struct pmemstream_tx *tx, struct pmemstream_region region, const void *data, size_t size);
int pmemstream_tx_region_allocate_errc(struct pmemstream_tx *tx, size_t size, struct pmemstream_region *region);
int pmemstream_tx_region_free_errc(struct pmemstream_tx *tx, struct pmemstream_region region);
int pmemstream_tx_commit_errc(struct pmemstream_tx *tx, uint64_t *timestamp);
#ifdef PMEMSTREAM_SPECIFIC_ERRORS
#define pmemstream_tx_begin pmemstream_tx_begin_errc
#define pmemstream_tx_append pmemstream_tx_append_errc
#define pmemstream_tx_region_allocate pmemstream_tx_region_allocate_errc
#define pmemstream_tx_region_free pmemstream_tx_region_free_errc
#define pmemstream_tx_commit pmemstream_tx_commit_errc
#endif /* PMEMSTREAM_SPECIFIC_ERRORS */

/* ---- specific error codes as return values ---- */

/*
 * The functions above that return int, with the same parameters and meaning, returning the
 * specific code (PMEMSTREAM_E_* or -ENOMEM) on failure instead of -1. Defining
 * PMEMSTREAM_SPECIFIC_ERRORS before including this header makes the usual names call these.
 */
int pmemstream_from_map_errc(struct pmemstream **stream, size_t block_size, struct pmem2_map *map);
int pmemstream_create_errc(struct pmemstream **stream, const char *path, uint64_t size, uint64_t block_size);
int pmemstream_open_errc(struct pmemstream **stream, const char *path, uint64_t block_size, unsigned flags);
int pmemstream_region_allocate_errc(struct pmemstream *stream, size_t size, struct pmemstream_region *region);
int pmemstream_region_free_errc(struct pmemstream *stream, struct pmemstream_region region);
int pmemstream_region_runtime_initialize_errc(struct pmemstream *stream, struct pmemstream_region region,
					      struct pmemstream_region_runtime **runtime);
int pmemstream_region_entry_count_errc(struct pmemstream *stream, struct pmemstream_region region, uint64_t *count);
int pmemstream_region_get_info_errc(struct pmemstream *stream, struct pmemstream_region region,
				    struct pmemstream_region_info *info);
int pmemstream_append_errc(struct pmemstream *stream, struct pmemstream_region region,
			   struct pmemstream_region_runtime *runtime, const void *data, size_t size,
			   struct pmemstream_entry *new_entry);
int pmemstream_append_with_timestamp_errc(struct pmemstream *stream, struct pmemstream_region region,
					  struct pmemstream_region_runtime *runtime, const void *data, size_t size,
					  struct pmemstream_entry *new_entry, uint64_t *timestamp);
int pmemstream_reserve_errc(struct pmemstream *stream, struct pmemstream_region region,
			    struct pmemstream_region_runtime *runtime, size_t size,
			    struct pmemstream_entry *reserved_entry, void **data);
int pmemstream_publish_errc(struct pmemstream *stream, struct pmemstream_region region,
			    struct pmemstream_region_runtime *runtime, struct pmemstream_entry entry, size_t size);
int pmemstream_cancel_errc(struct pmemstream *stream, struct pmemstream_region region,
			   struct pmemstream_region_runtime *runtime, struct pmemstream_entry entry);
int pmemstream_persist_errc(struct pmemstream *stream, uint64_t *persisted_timestamp);
int pmemstream_wait_committed_errc(struct pmemstream *stream, uint64_t timestamp, uint64_t timeout_ns);
int pmemstream_wait_persisted_errc(struct pmemstream *stream, uint64_t timestamp, uint64_t timeout_ns);
int pmemstream_future_wait_errc(struct pmemstream_future *future);
int pmemstream_future_wait_timeout_errc(struct pmemstream_future *future, uint64_t timeout_ns);
int pmemstream_entry_get_info_errc(struct pmemstream *stream, struct pmemstream_entry entry,
				   struct pmemstream_entry_info *info);
int pmemstream_stream_get_info_errc(struct pmemstream *stream, struct pmemstream_info *info);
int pmemstream_region_iterator_new_errc(struct pmemstream_region_iterator **iterator, struct pmemstream *stream);
int pmemstream_region_iterator_is_valid_errc(struct pmemstream_region_iterator *iterator);
int pmemstream_entry_iterator_new_errc(struct pmemstream_entry_iterator **iterator, struct pmemstream *stream,
				       struct pmemstream_region region);
int pmemstream_entry_iterator_is_valid_errc(struct pmemstream_entry_iterator *iterator);
int pmemstream_entry_iterator_seek_errc(struct pmemstream_entry_iterator *iterator, struct pmemstream_entry entry);
int pmemstream_entry_iterator_seek_timestamp_errc(struct pmemstream_entry_iterator *iterator, uint64_t timestamp);
int pmemstream_stream_reader_new_errc(struct pmemstream_stream_reader **reader, struct pmemstream *stream);
int pmemstream_stream_reader_is_valid_errc(struct pmemstream_stream_reader *reader);
int pmemstream_stream_reader_seek_timestamp_errc(struct pmemstream_stream_reader *reader, uint64_t timestamp);
/* live readers (issue 12) */
int pmemstream_wait_for_errc(struct pmemstream *stream, uint64_t timestamp, uint64_t timeout_ns);
int pmemstream_entry_iterator_wait_errc(struct pmemstream_entry_iterator *iterator, uint64_t timeout_ns);
int pmemstream_stream_reader_wait_errc(struct pmemstream_stream_reader *reader, uint64_t timeout_ns);

#ifdef PMEMSTREAM_SPECIFIC_ERRORS
#define pmemstream_from_map pmemstream_from_map_errc
#define pmemstream_create pmemstream_create_errc
#define pmemstream_open pmemstream_open_errc
#define pmemstream_region_allocate pmemstream_region_allocate_errc
#define pmemstream_region_free pmemstream_region_free_errc
#define pmemstream_region_runtime_initialize pmemstream_region_runtime_initialize_errc
#define pmemstream_region_entry_count pmemstream_region_entry_count_errc
#define pmemstream_region_get_info pmemstream_region_get_info_errc
#define pmemstream_append pmemstream_append_errc
#define pmemstream_append_with_timestamp pmemstream_append_with_timestamp_errc
#define pmemstream_reserve pmemstream_reserve_errc
#define pmemstream_publish pmemstream_publish_errc
#define pmemstream_cancel pmemstream_cancel_errc
#define pmemstream_persist pmemstream_persist_errc
#define pmemstream_wait_committed pmemstream_wait_committed_errc
#define pmemstream_wait_persisted pmemstream_wait_persisted_errc
#define pmemstream_future_wait pmemstream_future_wait_errc
#define pmemstream_future_wait_timeout pmemstream_future_wait_timeout_errc
#define pmemstream_entry_get_info pmemstream_entry_get_info_errc
#define pmemstream_stream_get_info pmemstream_stream_get_info_errc
#define pmemstream_region_iterator_new pmemstream_region_iterator_new_errc
#define pmemstream_region_iterator_is_valid pmemstream_region_iterator_is_valid_errc
#define pmemstream_entry_iterator_new pmemstream_entry_iterator_new_errc
#define pmemstream_entry_iterator_is_valid pmemstream_entry_iterator_is_valid_errc
#define pmemstream_entry_iterator_seek pmemstream_entry_iterator_seek_errc
#define pmemstream_entry_iterator_seek_timestamp pmemstream_entry_iterator_seek_timestamp_errc
#define pmemstream_stream_reader_new pmemstream_stream_reader_new_errc
#define pmemstream_stream_reader_is_valid pmemstream_stream_reader_is_valid_errc
#define pmemstream_stream_reader_seek_timestamp pmemstream_stream_reader_seek_timestamp_errc
/* live readers (issue 12) */
#define pmemstream_wait_for pmemstream_wait_for_errc
#define pmemstream_entry_iterator_wait pmemstream_entry_iterator_wait_errc
#define pmemstream_stream_reader_wait pmemstream_stream_reader_wait_errc
#endif /* PMEMSTREAM_SPECIFIC_ERRORS */

#ifdef __cplusplus
}
#endif

#endif /* LIBPMEMSTREAM_H */
