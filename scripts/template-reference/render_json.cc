// Renders a JSON array of {"template", "context"} cases read from stdin with detinfer's chat
// template engine and writes a JSON array of {"output"} or {"error"} to stdout, with
// strftime_now on render.py's fixed clock. Used by differential.py; built by it (see there).
#include <ctime>
#include <iostream>
#include <sstream>

#include "template/chat_template_engine.h"

int main() {
  std::stringstream in;
  in << std::cin.rdbuf();
  const auto cases = nlohmann::ordered_json::parse(in.str());
  detinfer::ChatTemplateLimits lim;
  lim.max_steps = 1000000;
  lim.clock = [] {
    std::tm tm{};
    tm.tm_year = 126;
    tm.tm_mon = 0;
    tm.tm_mday = 15;
    tm.tm_hour = 10;
    tm.tm_min = 30;
    tm.tm_wday = 4;
    tm.tm_yday = 14;
    return tm;
  };
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& c : cases) {
    nlohmann::ordered_json r = nlohmann::ordered_json::object();
    auto prog = detinfer::ParseChatTemplate(c.at("template").get<std::string>());
    if (!prog.ok()) {
      r["error"] = prog.status().ToString();
    } else {
      auto text = detinfer::Render(*prog, c.at("context"), lim);
      if (text.ok()) r["output"] = *text; else r["error"] = text.status().ToString();
    }
    out.push_back(std::move(r));
  }
  std::cout << out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return 0;
}
