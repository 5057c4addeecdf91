#include "server/lora_adapters.h"

#include <httplib.h>

#include <cmath>

#include "server/server_context.h"
#include "train/adapter_runtime.h"
#include "util/error.h"

namespace facet::server {

ServerLoras::ServerLoras(const ServerOptions& options) {
  for (const auto& [path, scale] : options.lora_adapters) {
    paths_.push_back(path);
    initial_.push_back(options.lora_init_without_apply ? 0.0 : scale);
  }
  scales_ = initial_;
}

std::vector<double> ServerLoras::scales() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return scales_;
}

void ServerLoras::set_scales(std::vector<double> scales) {
  std::lock_guard<std::mutex> lock(mutex_);
  scales_ = std::move(scales);
}

Json ServerLoras::to_json() const {
  const std::vector<double> now = scales();
  Json out = Json::array();
  for (size_t i = 0; i < paths_.size(); ++i) out.push_back({{"id", i}, {"path", paths_[i]}, {"scale", now[i]}});
  return out;
}

std::vector<double> ServerLoras::parse(const Json& list) const {
  if (!list.is_array()) throw_http(400, "lora must be a list of {\"id\": N, \"scale\": S} objects");
  std::vector<double> out(paths_.size(), 0.0);
  for (const Json& item : list) {
    if (!item.is_object()) throw_http(400, "lora must be a list of {\"id\": N, \"scale\": S} objects");
    const auto id = item.find("id");
    if (id == item.end() || !id->is_number_integer())
      throw_http(400, "lora: every entry needs an integer \"id\" (GET /lora-adapters lists them)");
    const int64_t n = id->get<int64_t>();
    if (n < 0 || n >= static_cast<int64_t>(paths_.size()))
      throw_http(400, "lora: no adapter has id " + std::to_string(n) + " (the server has " +
                          std::to_string(paths_.size()) + "; start it with --lora PATH)");
    const auto scale = item.find("scale");
    if (scale == item.end() || !scale->is_number() || !std::isfinite(scale->get<double>()))
      throw_http(400, "lora: adapter " + std::to_string(n) + " needs a numeric \"scale\"");
    out[static_cast<size_t>(n)] = scale->get<double>();
  }
  return out;
}

std::vector<double> request_lora_scales(const ServerLoras& loras, const Json& body) {
  const Json* field = get_field(body, "lora");
  return field ? loras.parse(*field) : loras.scales();
}

std::function<void(const std::vector<double>&)> attach_server_loras(Model& model, const ServerLoras& loras) {
  std::vector<train::LoadedAdapter> adapters;
  for (size_t i = 0; i < loras.size(); ++i)
    adapters.push_back(train::load_adapter_for_inference(loras.paths()[i], loras.initial_scales()[i], model));
  train::attach_adapters(model, adapters);
  return [m = &model](const std::vector<double>& scales) { train::set_adapter_scales(*m, scales); };
}

void add_lora_routes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/lora-adapters", [&ctx](const httplib::Request&, httplib::Response& res) {
    send_json(res, ctx.registry.loras().to_json());
  });
  http.Post("/lora-adapters", [&ctx](const httplib::Request& req, httplib::Response& res) {
    guarded(Api::OpenAI, res, [&] {
      const Json body = Json::parse(req.body, nullptr, false);
      if (body.is_discarded()) throw_http(400, "the body is not valid JSON");
      ServerLoras& loras = ctx.registry.loras();
      loras.set_scales(loras.parse(body));
      send_json(res, Json{{"success", true}});  // as llama-server answers
    });
  });
}

}  // namespace facet::server
