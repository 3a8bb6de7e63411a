// AttributeProto <-> Attribute, for the attribute kinds the Graph holds.
#include "onnx_internal.h"

namespace edgesplit::onnx_internal {

Result<Attribute> AttributeFromProto(const onnx::AttributeProto& a) {
  using AP = onnx::AttributeProto;
  Attribute out;
  out.name = a.name();
  int type = a.type();
  if (type == AP::UNDEFINED) {  // very old writers leave the discriminator out
    type = a.has_i() ? AP::INT
           : a.has_f() ? AP::FLOAT
           : a.has_s() ? AP::STRING
           : a.ints_size() ? AP::INTS
           : a.floats_size() ? AP::FLOATS
           : a.has_t() ? AP::TENSOR
                       : AP::UNDEFINED;
  }
  if (!a.ref_attr_name().empty())
    return Unsupported("attribute '" + a.name() + "' refers to a function attribute");
  switch (type) {
    case AP::INT: out.kind = Attribute::Kind::kInt; out.i = a.i(); return out;
    case AP::FLOAT: out.kind = Attribute::Kind::kFloat; out.f = a.f(); return out;
    case AP::STRING: out.kind = Attribute::Kind::kString; out.s = a.s(); return out;
    case AP::INTS:
      out.kind = Attribute::Kind::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      return out;
    case AP::FLOATS:
      out.kind = Attribute::Kind::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      return out;
    default: {
      const std::string type_name = AP::AttributeType_IsValid(type) ? AP::AttributeType_Name(type) : "unknown";
      return Unsupported("attribute '" + a.name() + "' has type " + type_name + ", which edgesplit does not hold");
    }
  }
}

void AttributeToProto(const Attribute& a, onnx::AttributeProto* p) {
  using AP = onnx::AttributeProto;
  p->set_name(a.name);
  switch (a.kind) {
    case Attribute::Kind::kInt: p->set_type(AP::INT); p->set_i(a.i); break;
    case Attribute::Kind::kFloat: p->set_type(AP::FLOAT); p->set_f(a.f); break;
    case Attribute::Kind::kString: p->set_type(AP::STRING); p->set_s(a.s); break;
    case Attribute::Kind::kInts:
      p->set_type(AP::INTS);
      for (int64_t v : a.ints) p->add_ints(v);
      break;
    case Attribute::Kind::kFloats:
      p->set_type(AP::FLOATS);
      for (float v : a.floats) p->add_floats(v);
      break;
  }
}

}  // namespace edgesplit::onnx_internal
