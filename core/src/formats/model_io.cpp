#include "formats/model_io.hpp"

#include <ctime>

#include "json/config_access.hpp"
#include "kserde/deserializer.hpp"
#include "kserde/error.hpp"

namespace kserde::model_io {

std::string config_json(const Model& model) { return to_json(*model.to_object_dict()); }

std::string metadata_json() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &local);
  return std::string(R"({"keras_version": ")") + kKerasFormatVersion + R"(", "date_saved": ")" +
         date + "\"}";
}

std::shared_ptr<Model> build_model(const JsonValue& object_dict, const LoadOptions& options,
                                   const std::string& source) {
  Deserializer ctx(options, source);
  std::shared_ptr<Layer> layer = ctx.layer(object_dict);
  auto model = std::dynamic_pointer_cast<Model>(layer);
  if (!model) {
    throw ConfigError(source + ": describes a " + layer->class_name() +
                      " layer, not a model (Sequential, Functional or a registered model class)");
  }
  const JsonValue* cc = cfg::find(object_dict, "compile_config");
  if (options.compile && cc != nullptr && cc->IsObject() && cc->MemberCount() > 0) {
    check_no_lambda(*cc, source + ": compile_config", options.safe_mode);
    auto doc = std::make_shared<JsonDocument>();
    doc->CopyFrom(*cc, doc->GetAllocator());
    model->set_compile_config(doc);
    if (const JsonValue* opt = cfg::find(*cc, "optimizer"); opt != nullptr && opt->IsObject()) {
      Optimizer o;
      o.object_dict = std::make_shared<JsonDocument>();
      o.object_dict->CopyFrom(*opt, o.object_dict->GetAllocator());
      model->optimizer() = std::move(o);
    }
  }
  return model;
}

std::shared_ptr<Model> model_from_config_text(const std::string& text, const LoadOptions& options,
                                              const std::string& source) {
  auto doc = parse_json(text, source, options.json_limits);
  if (!doc->IsObject()) throw ConfigError(source + ": must hold a JSON object");
  return build_model(*doc, options, source);
}

void read_metadata(Model& model, const std::string& text) {
  try {
    auto doc = parse_json(text, "metadata.json");
    if (!doc->IsObject()) return;
    ModelMetadata m;
    m.keras_version = cfg::get_string(*doc, "keras_version", "metadata.json", "");
    m.date_saved = cfg::get_string(*doc, "date_saved", "metadata.json", "");
    model.metadata() = m;
  } catch (const Error&) {
    // Keras never validates metadata.json; neither does kserde.
  }
}

}  // namespace kserde::model_io
