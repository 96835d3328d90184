// SPDX-License-Identifier: BSD-3-Clause
// Output helpers of the command-line tool: a small JSON writer, hex and base64 encodings, a
// hexdump and a progress bar that only draws on a terminal.
#ifndef PMEMSTREAM_TOOLS_OUTPUT_HPP
#define PMEMSTREAM_TOOLS_OUTPUT_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cli {

// Builds compact JSON. Keys and values are written in call order; commas are automatic.
class json {
public:
	json &begin_object();
	json &end_object();
	json &begin_array();
	json &end_array();
	json &key(std::string_view k);
	json &value(uint64_t v);
	json &value(double v);
	json &value(bool v);
	json &value(std::nullptr_t);
	json &value(std::string_view v);
	json &value(const char *v)
	{
		return value(std::string_view(v));
	}
	template <typename T>
	json &field(std::string_view k, T v)
	{
		return key(k).value(v);
	}
	const std::string &str() const
	{
		return s_;
	}

private:
	void separate();
	std::string s_;
	std::vector<bool> first_;
	bool after_key_ = false;
};

std::string to_hex(std::span<const std::byte> data);
std::string to_base64(std::span<const std::byte> data);
// "01 02 03 ..." of the first `n` bytes, with "..." when there are more.
std::string leading_bytes(std::span<const std::byte> data, size_t n);
// Lines of "  OFFSET  16 hex bytes  |ascii|", each prefixed by `indent`.
std::string hexdump(std::span<const std::byte> data, const std::string &indent);

// Draws "label [#####     ]  42%" on stderr when stderr is a terminal, at most every 100 ms.
class progress {
public:
	progress(std::string label, uint64_t total);
	~progress();
	void update(uint64_t done);
	void finish();

private:
	void draw(uint64_t done);
	std::string label_;
	uint64_t total_;
	bool enabled_;
	bool drawn_ = false;
	std::chrono::steady_clock::time_point last_{};
};

} // namespace cli

#endif // PMEMSTREAM_TOOLS_OUTPUT_HPP
