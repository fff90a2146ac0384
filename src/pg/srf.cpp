#include "pg/srf.hpp"

#include <stdexcept>

#include "pg/guarded.hpp"

namespace ptb::pg {

MaterializedResult::MaterializedResult(FunctionCallInfo fcinfo) {
  guarded([&] {
#if PG_VERSION_NUM >= 150000
    InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
#else
    SetSingleFuncCall(fcinfo, SRF_SINGLE_USE_EXPECTED);
#endif
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    store_ = rsinfo->setResult;
    desc_ = rsinfo->setDesc;
  });
}

void MaterializedResult::add_row(const std::vector<SqlValue>& values) {
  const int natts = desc_->natts;
  if (static_cast<int>(values.size()) != natts)
    throw std::logic_error("result row has the wrong number of columns");
  Datum* datums = nullptr;
  bool* nulls = nullptr;
  guarded([&] {
    datums = static_cast<Datum*>(palloc0(sizeof(Datum) * natts));
    nulls = static_cast<bool*>(palloc0(sizeof(bool) * natts));
  });
  for (int i = 0; i < natts; ++i) nulls[i] = values[i].kind == SqlValue::Kind::Null;
  guarded([&] {
    for (int i = 0; i < natts; ++i) {
      if (values[i].kind == SqlValue::Kind::Text)
        datums[i] = PointerGetDatum(cstring_to_text_with_len(values[i].text_value.data(),
                                                             values[i].text_value.size()));
      else if (values[i].kind == SqlValue::Kind::Int8 ||
               values[i].kind == SqlValue::Kind::TimestampTz)
        datums[i] = Int64GetDatum(values[i].int_value);
    }
    tuplestore_putvalues(store_, desc_, datums, nulls);
    pfree(datums);
    pfree(nulls);
  });
}

}  // namespace ptb::pg
