// SPDX-License-Identifier: BSD-3-Clause
// Typed errors of pmemstream: an error code (errc) with our own std::error_category, a
// human-readable message, and result<T>, a value-or-error return type. Nothing in the
// library throws; every fallible function returns result<T> or status.
#ifndef PMEMSTREAM_ERRORS_HPP
#define PMEMSTREAM_ERRORS_HPP

#include <cassert>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace pmemstream {

// Every error the library reports. Values are stable: the C API returns -(1000 + value)
// (PMEMSTREAM_E_* in libpmemstream.h), so never renumber.
enum class errc : int {
	ok = 0,
	invalid_argument = 1,	// a parameter is out of range (size 0, block size not a power of two, ...)
	invalid_handle = 2,	// a region or entry handle does not name a live region / committed entry
	region_full = 3,	// the entry does not fit in the space the region has left
	out_of_space = 4,	// no free span in the stream is large enough for the region
	corrupt = 5,		// the stream's bytes break a validity rule of docs/format.md
	version_mismatch = 6,	// a stream of another format version
	not_a_stream = 7,	// the file is neither a stream nor all zeroes
	parameter_mismatch = 8, // opened with parameters (block size, size) that contradict the header
	io_error = 9,		// the operating system or the medium failed (open, map, allocate, flush)
	read_only = 10,		// a write on a stream opened read-only
	busy = 11,		// the operation conflicts with one in progress (outstanding reservation)
	entry_too_large = 12,	// an entry above the format's limit (4 GiB - 1 bytes)
	exists = 13,		// create() on a file that already holds data
	media_failed = 14,	// an earlier media error put the stream in a failed state; reopen it
	timestamps_exhausted = 15, // all 2^56 - 1 timestamps of the format are used; the stream takes no more writes
	wrong_process = 16,	// a write through a stream opened by another process (the parent of a fork())
	timed_out = 17,		// a wait with a timeout ended before the watermark reached the timestamp
	// ---- transactions (issue 13) ----
	tx_too_large = 18,	// a transaction would hold more members than max_tx_members
	tx_finished = 19,	// a member or commit on a transaction already committed or aborted
	// issue 14 (truncation): a clear or truncation removed the iterator's position
	truncated = 20,
	// ---- live readers (issue 12) ----
	region_freed = 21,	// a reader's region was freed by the writer since the reader last stepped
	writer_gone = 22,	// the writer a read-only stream followed closed, died or was replaced; reopen
	// One past the last code: tables of names and C constants are checked against it.
	last_ = 23,
};

const std::error_category &error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept
{
	return {static_cast<int>(e), error_category()};
}

// Short fixed name of an error code ("region full"), never null.
const char *errc_name(errc e) noexcept;

// An error code with a message that says what exactly went wrong and where.
class error {
public:
	error(errc code, std::string message) : code_(code), message_(std::move(message))
	{
		assert(code != errc::ok);
	}

	errc code() const noexcept
	{
		return code_;
	}
	const std::string &message() const noexcept
	{
		return message_;
	}
	std::error_code error_code() const noexcept
	{
		return make_error_code(code_);
	}

private:
	errc code_;
	std::string message_;
};

// A value of type T or an error. Check with has_value() / operator bool before value().
template <typename T>
class [[nodiscard]] result {
public:
	result(T value) : v_(std::in_place_index<0>, std::move(value))
	{
	}
	result(error err) : v_(std::in_place_index<1>, std::move(err))
	{
	}

	bool has_value() const noexcept
	{
		return v_.index() == 0;
	}
	explicit operator bool() const noexcept
	{
		return has_value();
	}

	T &value() &
	{
		assert(has_value());
		return std::get<0>(v_);
	}
	const T &value() const &
	{
		assert(has_value());
		return std::get<0>(v_);
	}
	// By value, so that `for (auto e : *s.entries(r))` keeps the temporary alive.
	T value() &&
	{
		assert(has_value());
		return std::get<0>(std::move(v_));
	}
	T &operator*() &
	{
		return value();
	}
	const T &operator*() const &
	{
		return value();
	}
	T operator*() &&
	{
		return std::move(*this).value();
	}
	T *operator->()
	{
		return &value();
	}
	const T *operator->() const
	{
		return &value();
	}

	const error &err() const &
	{
		assert(!has_value());
		return std::get<1>(v_);
	}
	error &&err() &&
	{
		assert(!has_value());
		return std::get<1>(std::move(v_));
	}
	// errc::ok on success.
	errc code() const noexcept
	{
		return has_value() ? errc::ok : std::get<1>(v_).code();
	}

private:
	std::variant<T, error> v_;
};

// Success or an error, for operations that return nothing.
class [[nodiscard]] status {
public:
	status() = default;
	status(error err) : err_(std::move(err)), failed_(true)
	{
	}

	static status ok()
	{
		return {};
	}

	bool has_value() const noexcept
	{
		return !failed_;
	}
	explicit operator bool() const noexcept
	{
		return !failed_;
	}
	const error &err() const &
	{
		assert(failed_);
		return err_;
	}
	errc code() const noexcept
	{
		return failed_ ? err_.code() : errc::ok;
	}

private:
	error err_{errc::invalid_argument, {}};
	bool failed_ = false;
};

} // namespace pmemstream

template <>
struct std::is_error_code_enum<pmemstream::errc> : std::true_type {
};

#endif // PMEMSTREAM_ERRORS_HPP
