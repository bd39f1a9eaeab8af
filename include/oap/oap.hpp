#pragma once
// Umbrella header: everything of oap's public interface that does not need LibTorch.

#include "oap/core/config_file.hpp"
#include "oap/core/csv_event_reader.hpp"
#include "oap/core/csv_reader.hpp"
#include "oap/core/error.hpp"
#include "oap/core/event.hpp"
#include "oap/core/event_reader.hpp"
#include "oap/core/json_config.hpp"
#include "oap/core/logging.hpp"
#include "oap/core/parse_number.hpp"
#include "oap/core/timestamp.hpp"
#include "oap/core/user_id.hpp"
#include "oap/store/history_store.hpp"
#include "oap/store/memory_store.hpp"
#include "oap/store/sqlite_store.hpp"
#include "oap/store/store_options.hpp"
