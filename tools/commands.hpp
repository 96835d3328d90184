// SPDX-License-Identifier: BSD-3-Clause
// The subcommands of the pmemstream tool. Each returns an exit code or throws cli::failure.
#ifndef PMEMSTREAM_TOOLS_COMMANDS_HPP
#define PMEMSTREAM_TOOLS_COMMANDS_HPP

#include "cli.hpp"

#include <span>

namespace cli {

int run_create(const command_spec &, const parsed_args &);
int run_info(const command_spec &, const parsed_args &);
int run_dump(const command_spec &, const parsed_args &);
int run_check(const command_spec &, const parsed_args &);
int run_check_repair(const command_spec &, const parsed_args &); // check --repair (cmd_reopen.cpp)
int run_region_add(const command_spec &, const parsed_args &);
int run_region_ls(const command_spec &, const parsed_args &);
int run_region_rm(const command_spec &, const parsed_args &);
int run_region_clear(const command_spec &, const parsed_args &); // cmd_truncate.cpp (issue 14)
int run_truncate(const command_spec &, const parsed_args &);     // cmd_truncate.cpp (issue 14)
int run_append(const command_spec &, const parsed_args &);
int run_cat(const command_spec &, const parsed_args &);
int run_tail(const command_spec &, const parsed_args &);
int run_bench(const command_spec &, const parsed_args &);

// A committed entry read through the public API.
struct entry_view {
	uint64_t offset;
	uint64_t timestamp;
	std::span<const std::byte> data;
	pmemstream::tx_membership tx{}; // transactions (issue 13)
};
entry_view read_entry(const pmemstream::stream &s, pmemstream::entry e, const std::string &context);
std::vector<entry_view> read_entries(const pmemstream::stream &s, pmemstream::region r, const std::string &context);

struct region_view {
	uint64_t offset;
	uint64_t size; // usable bytes
	uint64_t used;
	uint64_t entries;
};
region_view describe_region(const pmemstream::stream &s, pmemstream::region r, const std::string &context);

} // namespace cli

#endif // PMEMSTREAM_TOOLS_COMMANDS_HPP
