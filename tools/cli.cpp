// SPDX-License-Identifier: BSD-3-Clause
#include "cli.hpp"

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

namespace cli {

void fail(int code, std::string message)
{
	throw failure{code, std::move(message)};
}

int exit_code_of(pmemstream::errc e) noexcept
{
	using pmemstream::errc;
	switch (e) {
	case errc::ok: return exit_ok;
	case errc::invalid_argument: return exit_usage;
	case errc::invalid_handle: return exit_no_region;
	case errc::region_full:
	case errc::out_of_space:
	case errc::entry_too_large: return exit_space;
	case errc::corrupt: return exit_corrupt;
	default: return exit_file;
	}
}

void fail_with(const pmemstream::error &e, const std::string &context)
{
	std::string msg = context.empty() ? "" : context + ": ";
	msg += pmemstream::errc_name(e.code());
	if (!e.message().empty() && e.message() != pmemstream::errc_name(e.code()))
		msg += ": " + e.message();
	fail(exit_code_of(e.code()), msg);
}

void check(const pmemstream::status &s, const std::string &context)
{
	if (!s)
		fail_with(s.err(), context);
}

namespace {

const option_spec help_option = {"help", 'h', nullptr, "show this help and exit"};

const option_spec *find_long(const command_spec &spec, const std::string &name)
{
	if (name == help_option.long_name)
		return &help_option;
	for (auto &o : spec.options)
		if (name == o.long_name)
			return &o;
	return nullptr;
}

const option_spec *find_short(const command_spec &spec, char c)
{
	if (c == help_option.short_name)
		return &help_option;
	for (auto &o : spec.options)
		if (o.short_name != 0 && o.short_name == c)
			return &o;
	return nullptr;
}

[[noreturn]] void usage_error(const command_spec &spec, const std::string &what)
{
	fail(exit_usage, std::string(spec.name) + ": " + what + " (see 'pmemstream " + spec.name + " --help')");
}

void store(parsed_args &a, const option_spec &o, std::string value)
{
	if (o.value_name)
		a.values[o.long_name] = std::move(value);
	else
		a.flags.insert(o.long_name);
}

} // namespace

parsed_args parse_args(const command_spec &spec, int argc, char **argv)
{
	parsed_args a;
	bool options_done = false;
	for (int i = 0; i < argc; i++) {
		std::string arg = argv[i];
		if (options_done || arg.size() < 2 || arg[0] != '-') {
			a.positional.push_back(arg);
			continue;
		}
		if (arg == "--") {
			options_done = true;
			continue;
		}
		if (arg[1] == '-') {
			std::string name = arg.substr(2);
			std::optional<std::string> inline_value;
			if (auto eq = name.find('='); eq != std::string::npos) {
				inline_value = name.substr(eq + 1);
				name.resize(eq);
			}
			const option_spec *o = find_long(spec, name);
			if (!o)
				usage_error(spec, "unknown option '--" + name + "'");
			if (!o->value_name) {
				if (inline_value)
					usage_error(spec, "option '--" + name + "' takes no value");
				store(a, *o, {});
			} else if (inline_value) {
				store(a, *o, *inline_value);
			} else {
				if (i + 1 >= argc)
					usage_error(spec, "option '--" + name + "' needs a value " + o->value_name);
				store(a, *o, argv[++i]);
			}
			continue;
		}
		// Short options, possibly bundled: -fv, -n5, -n 5.
		for (size_t k = 1; k < arg.size(); k++) {
			const option_spec *o = find_short(spec, arg[k]);
			if (!o)
				usage_error(spec, std::string("unknown option '-") + arg[k] + "'");
			if (!o->value_name) {
				store(a, *o, {});
				continue;
			}
			if (k + 1 < arg.size()) {
				store(a, *o, arg.substr(k + 1));
			} else {
				if (i + 1 >= argc)
					usage_error(spec, std::string("option '-") + arg[k] + "' needs a value " + o->value_name);
				store(a, *o, argv[++i]);
			}
			break;
		}
	}
	if (a.flags.count("help"))
		return a;
	if (a.positional.size() < spec.min_positional)
		usage_error(spec, std::string("missing argument; usage: pmemstream ") + spec.name + " " + spec.args);
	if (a.positional.size() > spec.max_positional)
		usage_error(spec, "unexpected argument '" + a.positional[spec.max_positional] + "'");
	return a;
}

void print_command_help(const command_spec &spec)
{
	std::string s = std::string("usage: pmemstream ") + spec.name + " " + spec.args + (spec.options.empty() ? "" : " [OPTIONS]") + "\n\n" +
		spec.summary + "\n";
	if (spec.details)
		s += std::string("\n") + spec.details + "\n";
	s += "\noptions:\n";
	std::vector<const option_spec *> all;
	for (auto &o : spec.options)
		all.push_back(&o);
	all.push_back(&help_option);
	for (auto *o : all) {
		std::string left = "  ";
		left += o->short_name ? std::string("-") + o->short_name + ", " : "    ";
		left += std::string("--") + o->long_name;
		if (o->value_name)
			left += std::string(" ") + o->value_name;
		if (left.size() < 28)
			left.resize(28, ' ');
		else
			left += "  ";
		s += left + o->help + "\n";
	}
	out(s);
}

namespace {

bool all_digits(const std::string &s, bool hex_digits)
{
	if (s.empty())
		return false;
	for (char c : s) {
		bool ok = hex_digits ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c));
		if (!ok)
			return false;
	}
	return true;
}

std::optional<uint64_t> to_u64(const std::string &digits, int base)
{
	errno = 0;
	char *end = nullptr;
	unsigned long long v = std::strtoull(digits.c_str(), &end, base);
	if (errno == ERANGE || end != digits.c_str() + digits.size())
		return std::nullopt;
	return static_cast<uint64_t>(v);
}

} // namespace

uint64_t parse_uint(const std::string &text, const std::string &what)
{
	auto v = all_digits(text, false) ? to_u64(text, 10) : std::nullopt;
	if (!v)
		fail(exit_usage, what + ": '" + text + "' is not a non-negative integer");
	return *v;
}

uint64_t parse_offset(const std::string &text, const std::string &what)
{
	std::optional<uint64_t> v;
	if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
		std::string digits = text.substr(2);
		if (all_digits(digits, true))
			v = to_u64(digits, 16);
	} else if (all_digits(text, false)) {
		v = to_u64(text, 10);
	}
	if (!v)
		fail(exit_usage, what + ": '" + text + "' is not an offset (decimal or 0x hex)");
	return *v;
}

uint64_t parse_size(const std::string &text, const std::string &what)
{
	size_t n = 0;
	while (n < text.size() && std::isdigit(static_cast<unsigned char>(text[n])))
		n++;
	std::string digits = text.substr(0, n);
	std::string suffix = text.substr(n);
	for (auto &c : suffix)
		c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	unsigned shift = 0;
	bool ok = !digits.empty();
	if (!suffix.empty() && suffix != "B") {
		switch (suffix[0]) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		case 'T': shift = 40; break;
		default: ok = false;
		}
		std::string rest = suffix.substr(1);
		if (!rest.empty() && rest != "B" && rest != "IB")
			ok = false;
	}
	std::optional<uint64_t> v = ok ? to_u64(digits, 10) : std::nullopt;
	if (v && shift && (*v >> (64 - shift)) != 0)
		v.reset();
	if (!v)
		fail(exit_usage, what + ": '" + text + "' is not a size (a number with an optional K, M, G or T suffix)");
	return *v << shift;
}

std::string hex(uint64_t v)
{
	char buf[32];
	std::snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return buf;
}

std::string human_size(uint64_t bytes)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = static_cast<double>(bytes);
	int u = 0;
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	char buf[32];
	if (u == 0)
		std::snprintf(buf, sizeof(buf), "%" PRIu64 " B", bytes);
	else
		std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
	return buf;
}

void check_file(const std::string &path)
{
	struct stat st;
	if (::stat(path.c_str(), &st) != 0)
		fail(exit_file, path + ": " + std::strerror(errno));
	if (S_ISDIR(st.st_mode))
		fail(exit_file, path + ": is a directory");
}

std::unique_ptr<pmemstream::stream> open_stream(const std::string &path, bool writable, pmemstream::recovery_mode mode)
{
	check_file(path);
	pmemstream::open_options o;
	o.read_only = !writable;
	o.recovery = mode;
	// The tool reads what it opens: a full walk refuses damage anywhere, where a fast open
	// trusts checkpoints (docs/format.md 8.5).
	o.verify = pmemstream::verify_mode::full;
	return opened(pmemstream::stream::open(path, o), path);
}

std::unique_ptr<pmemstream::stream> opened(pmemstream::result<std::unique_ptr<pmemstream::stream>> s, const std::string &path)
{
	if (!s && s.code() == pmemstream::errc::corrupt)
		fail(exit_corrupt, path + ": " + pmemstream::errc_name(s.code()) + ": " + s.err().message() + " (run 'pmemstream check " +
					   path + "' for a full report)");
	return check(std::move(s), path);
}

pmemstream::region find_region(const pmemstream::stream &s, const std::string &path, uint64_t offset)
{
	for (auto r : s.regions())
		if (r.offset == offset)
			return r;
	fail(exit_no_region, path + ": no region at offset " + hex(offset) + " (see 'pmemstream region ls " + path + "')");
}

uint64_t damaged_regions(const pmemstream::recovery_report &rec)
{
	std::set<uint64_t> regions;
	for (auto &p : rec.problems)
		if (p.region_offset != 0 && p.entry_offset != 0)
			regions.insert(p.region_offset);
	return regions.size();
}

void out_bytes(const void *data, size_t n)
{
	if (n != 0 && std::fwrite(data, 1, n, stdout) != n)
		fail(exit_file, std::string("writing to standard output: ") + std::strerror(errno));
}

void out(const std::string &s)
{
	out_bytes(s.data(), s.size());
}

} // namespace cli
