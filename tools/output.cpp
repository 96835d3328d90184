// SPDX-License-Identifier: BSD-3-Clause
#include "output.hpp"

#include <cinttypes>
#include <cstdio>
#include <unistd.h>

namespace cli {

void json::separate()
{
	if (after_key_) {
		after_key_ = false;
		return;
	}
	if (!first_.empty()) {
		if (!first_.back())
			s_ += ',';
		first_.back() = false;
	}
}

json &json::begin_object()
{
	separate();
	s_ += '{';
	first_.push_back(true);
	return *this;
}

json &json::end_object()
{
	s_ += '}';
	first_.pop_back();
	return *this;
}

json &json::begin_array()
{
	separate();
	s_ += '[';
	first_.push_back(true);
	return *this;
}

json &json::end_array()
{
	s_ += ']';
	first_.pop_back();
	return *this;
}

json &json::key(std::string_view k)
{
	value(k);
	s_ += ':';
	after_key_ = true;
	return *this;
}

json &json::value(uint64_t v)
{
	separate();
	s_ += std::to_string(v);
	return *this;
}

json &json::value(double v)
{
	separate();
	char buf[64];
	std::snprintf(buf, sizeof(buf), v >= -1e15 && v <= 1e15 ? "%.3f" : "%.6g", v);
	s_ += buf;
	return *this;
}

json &json::value(bool v)
{
	separate();
	s_ += v ? "true" : "false";
	return *this;
}

json &json::value(std::nullptr_t)
{
	separate();
	s_ += "null";
	return *this;
}

json &json::value(std::string_view v)
{
	separate();
	s_ += '"';
	for (char c : v) {
		unsigned char u = static_cast<unsigned char>(c);
		switch (c) {
		case '"': s_ += "\\\""; break;
		case '\\': s_ += "\\\\"; break;
		case '\n': s_ += "\\n"; break;
		case '\r': s_ += "\\r"; break;
		case '\t': s_ += "\\t"; break;
		default:
			if (u < 0x20) {
				char buf[8];
				std::snprintf(buf, sizeof(buf), "\\u%04x", u);
				s_ += buf;
			} else {
				s_ += c;
			}
		}
	}
	s_ += '"';
	return *this;
}

std::string to_hex(std::span<const std::byte> data)
{
	static const char digits[] = "0123456789abcdef";
	std::string s;
	s.reserve(data.size() * 2);
	for (auto b : data) {
		auto u = static_cast<unsigned>(b);
		s += digits[u >> 4];
		s += digits[u & 15];
	}
	return s;
}

std::string to_base64(std::span<const std::byte> data)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	std::string s;
	s.reserve((data.size() + 2) / 3 * 4);
	size_t i = 0;
	for (; i + 3 <= data.size(); i += 3) {
		uint32_t v = static_cast<uint32_t>(data[i]) << 16 | static_cast<uint32_t>(data[i + 1]) << 8 | static_cast<uint32_t>(data[i + 2]);
		s += alphabet[v >> 18];
		s += alphabet[(v >> 12) & 63];
		s += alphabet[(v >> 6) & 63];
		s += alphabet[v & 63];
	}
	size_t rest = data.size() - i;
	if (rest) {
		uint32_t v = static_cast<uint32_t>(data[i]) << 16;
		if (rest == 2)
			v |= static_cast<uint32_t>(data[i + 1]) << 8;
		s += alphabet[v >> 18];
		s += alphabet[(v >> 12) & 63];
		s += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
		s += '=';
	}
	return s;
}

std::string leading_bytes(std::span<const std::byte> data, size_t n)
{
	std::string s;
	char buf[4];
	for (size_t i = 0; i < data.size() && i < n; i++) {
		std::snprintf(buf, sizeof(buf), "%02x", static_cast<unsigned>(data[i]));
		if (i)
			s += ' ';
		s += buf;
	}
	if (data.size() > n)
		s += " ...";
	return s;
}

std::string hexdump(std::span<const std::byte> data, const std::string &indent)
{
	std::string s;
	char buf[32];
	for (size_t line = 0; line < data.size(); line += 16) {
		std::snprintf(buf, sizeof(buf), "%08zx ", line);
		s += indent + buf;
		std::string ascii;
		for (size_t i = line; i < line + 16; i++) {
			if (i == line + 8)
				s += ' ';
			if (i < data.size()) {
				unsigned u = static_cast<unsigned>(data[i]);
				std::snprintf(buf, sizeof(buf), " %02x", u);
				s += buf;
				ascii += (u >= 0x20 && u < 0x7f) ? static_cast<char>(u) : '.';
			} else {
				s += "   ";
			}
		}
		s += "  |" + ascii + "|\n";
	}
	return s;
}

progress::progress(std::string label, uint64_t total) : label_(std::move(label)), total_(total), enabled_(::isatty(STDERR_FILENO) == 1)
{
}

progress::~progress()
{
	finish();
}

void progress::update(uint64_t done)
{
	if (!enabled_)
		return;
	auto now = std::chrono::steady_clock::now();
	if (drawn_ && now - last_ < std::chrono::milliseconds(100))
		return;
	last_ = now;
	draw(done);
}

void progress::draw(uint64_t done)
{
	constexpr uint64_t width = 30;
	uint64_t filled = total_ ? std::min(done, total_) * width / total_ : width;
	uint64_t pct = total_ ? std::min(done, total_) * 100 / total_ : 100;
	std::string bar(filled, '#');
	bar.resize(width, ' ');
	std::fprintf(stderr, "\r%s [%s] %3" PRIu64 "%%", label_.c_str(), bar.c_str(), pct);
	std::fflush(stderr);
	drawn_ = true;
}

void progress::finish()
{
	if (!enabled_ || !drawn_)
		return;
	// Erase the bar so that later output starts on a clean line.
	std::fprintf(stderr, "\r\033[K");
	std::fflush(stderr);
	drawn_ = false;
}

} // namespace cli
