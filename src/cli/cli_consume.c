#include "cli/cli_common.h"

const struct cli_command cli_consume_commands[] = {
    {0, 0, 0, 0, 0},
};
