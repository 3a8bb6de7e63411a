// The edge server over an MQTT broker (libmosquitto): replicas share one
// subscription, devices publish requests and get replies on their own topic.
//
// Topics (PREFIX = edgesplit/<model hash in hex>):
//   PREFIX/req/<device>    a device publishes its requests here (QoS 1)
//   $share/<group>/PREFIX/req/+   what every replica subscribes to: the broker
//                          hands each request to one replica of the group
//   PREFIX/reply/<device>  the replica that served a request publishes its reply
// A device retries a request with no reply after `retry_s` (its replica may
// have died); a second reply to the same request id is suppressed and counted.
#include <mosquitto.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <optional>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "edgesplit/net_server.h"
#include "edgesplit/secure_transport.h"
#include "edgesplit/wire.h"
#include "secure_session.h"
#include "server_stats.h"

namespace edgesplit::net {
namespace {

std::once_flag g_lib_init;
void InitLibrary() {
  std::call_once(g_lib_init, [] { mosquitto_lib_init(); });
}

std::string MosqError(int rc) { return mosquitto_strerror(rc); }

// One libmosquitto client with its network thread; waits for CONNACK and SUBACK.
class Connection {
 public:
  using OnMessage = std::function<void(const std::string& topic, std::span<const uint8_t> payload)>;
  ~Connection() {
    if (!mosq_) return;
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false);
    mosquitto_destroy(mosq_);
  }
  Status Open(const std::string& client_id, const Endpoint& broker, const std::string& subscription, OnMessage on_message,
              Deadline deadline) {
    InitLibrary();
    on_message_ = std::move(on_message);
    subscription_ = subscription;
    mosq_ = mosquitto_new(client_id.c_str(), true, this);
    if (!mosq_) return IoError("cannot create an MQTT client");
    mosquitto_connect_callback_set(mosq_, [](mosquitto* m, void* self, int rc) { static_cast<Connection*>(self)->OnConnect(m, rc); });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int, int, const int*) {
      auto* c = static_cast<Connection*>(self);
      std::lock_guard<std::mutex> lock(c->mutex_);
      c->subscribed_ = true;
      c->changed_.notify_all();
    });
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* self, const mosquitto_message* m) {
      auto* c = static_cast<Connection*>(self);
      c->on_message_(m->topic, std::span<const uint8_t>(static_cast<const uint8_t*>(m->payload), static_cast<size_t>(m->payloadlen)));
    });
    mosquitto_publish_callback_set(mosq_, [](mosquitto*, void* self, int) { --static_cast<Connection*>(self)->in_flight_; });
    const int rc = mosquitto_connect(mosq_, broker.host.c_str(), broker.port, 30);
    if (rc != MOSQ_ERR_SUCCESS) return IoError("cannot connect to the MQTT broker at " + broker.ToString() + ": " + MosqError(rc));
    const int loop = mosquitto_loop_start(mosq_);
    if (loop != MOSQ_ERR_SUCCESS) return IoError("cannot start the MQTT network thread: " + MosqError(loop));
    std::unique_lock<std::mutex> lock(mutex_);
    if (!changed_.wait_until(lock, deadline, [&] { return subscribed_ || !connect_error_.empty(); }))
      return DeadlineExceeded("the MQTT broker at " + broker.ToString() + " did not acknowledge the subscription to '" +
                              subscription + "' in time");
    if (!connect_error_.empty()) return IoError("MQTT broker at " + broker.ToString() + ": " + connect_error_);
    return Status::Ok();
  }
  Status Publish(const std::string& topic, std::span<const uint8_t> payload) {
    ++in_flight_;
    const int rc = mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      --in_flight_;
      return IoError("MQTT publish to '" + topic + "' failed: " + MosqError(rc));
    }
    return Status::Ok();
  }
  int64_t in_flight() const { return in_flight_.load(); }

 private:
  void OnConnect(mosquitto* m, int rc) {
    if (rc != 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      connect_error_ = mosquitto_connack_string(rc);
      changed_.notify_all();
      return;
    }
    // (Re)subscribe on every connection: a broker restart drops the session.
    mosquitto_subscribe(m, nullptr, subscription_.c_str(), 1);
  }

  mosquitto* mosq_ = nullptr;
  OnMessage on_message_;
  std::string subscription_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool subscribed_ = false;
  std::string connect_error_;
  std::atomic<int64_t> in_flight_{0};
};

bool ValidTopicLevel(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

class MqttServer final : public ServerTransport {
 public:
  MqttServer(const ServerLimits& limits, std::string prefix, OnMessage on_message, const LinkSecurity* security)
      : limits_(limits), prefix_(std::move(prefix)), on_message_(std::move(on_message)) {
    if (security) security_ = *security;
  }
  Status Open(const Endpoint& broker, const std::string& group, const std::string& client_id) {
    broker_ = broker;
    subscription_ = "$share/" + group + "/" + prefix_ + "/req/+";
    return connection_.Open(client_id, broker, subscription_,
                            [this](const std::string& topic, std::span<const uint8_t> p) { OnPublish(topic, p); },
                            DeadlineIn(10));
  }
  Endpoint local_endpoint() const override { return broker_; }
  std::string subscription() const { return subscription_; }

  void Reply(PeerId peer, std::vector<uint8_t> message, uint32_t request_id) override {
    std::string device;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = devices_.find(peer);
      auto key = reply_keys_.find({peer, request_id});
      if (it == devices_.end() || (security_ && key == reply_keys_.end())) {
        counters_.FailedReply();
        return;
      }
      device = it->second;
      if (security_) {  // sealed under the request's own reply key
        std::vector<uint8_t> sealed;
        (void)detail::SealOneShotReply(key->second, message, &sealed);
        message = std::move(sealed);
        reply_keys_.erase(key);
      }
    }
    if (!connection_.Publish(prefix_ + "/reply/" + device, message).ok()) counters_.FailedReply();
  }
  int64_t pending_replies() const override { return connection_.in_flight(); }
  ServerStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return counters_.Snapshot(static_cast<int64_t>(devices_.size()));
  }

 private:
  void Reject(const std::string& why) { counters_.Reject(why); }
  void OnPublish(const std::string& topic, std::span<const uint8_t> payload) {
    const std::string head = prefix_ + "/req/";
    if (topic.compare(0, head.size(), head) != 0) return Reject("message on unexpected topic '" + topic + "'");
    const std::string device = topic.substr(head.size());
    if (!ValidTopicLevel(device)) return Reject("bad device name in topic '" + topic + "'");
    if (payload.size() > limits_.max_message_bytes + (security_ ? detail::kOneShotRequestOverhead : 0))
      return Reject("message of " + std::to_string(payload.size()) + " bytes from '" + device + "' exceeds the limit");
    std::vector<uint8_t> opened;
    detail::OneShotKeys keys;
    if (security_) {
      const Status s = detail::OpenOneShot(*security_, payload, &opened, &keys);
      if (!s.ok()) {
        counters_.SecurityDrop("from '" + device + "': " + s.message());
        if (IsRefusal(s)) {
          ++refused_;
          counters_.Handshakes(0, 0, refused_);
          (void)connection_.Publish(prefix_ + "/reply/" + device, detail::NoticeEnvelope(NoticeCode::kRefused, keys.tag, RefusalReason(s)));
        }
        return;
      }
      crypto::Bytes32 e;
      std::memcpy(e.data(), payload.data() + 2, 32);
      std::lock_guard<std::mutex> lock(mutex_);
      if (!seen_.insert(e).second) {  // the same request again at this replica (replay or a retry)
        counters_.SecurityDrop("from '" + device + "': sealed request replayed");
        return;
      }
      seen_order_.push_back(e);
      if (seen_order_.size() > 4096) {
        seen_.erase(seen_order_.front());
        seen_order_.pop_front();
      }
      payload = opened;
    }
    wire::WireLimits wl;
    wl.max_payload_bytes = limits_.max_message_bytes;
    auto decoded = wire::DecodeMessage(payload, wl);
    if (!decoded.ok()) return Reject("from '" + device + "': " + decoded.status().message());
    PeerId peer = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = peers_.find(device);
      if (it == peers_.end()) {
        if (static_cast<int>(peers_.size()) >= limits_.max_peers) {
          counters_.Reject(std::to_string(limits_.max_peers) + " devices already known");
          return;
        }
        it = peers_.emplace(device, next_peer_++).first;
        devices_[it->second] = device;
      }
      peer = it->second;
      if (security_) {
        if (reply_keys_.size() >= 4u * static_cast<size_t>(limits_.max_peers)) reply_keys_.erase(reply_keys_.begin());
        reply_keys_[{peer, decoded->header.request_id}] = keys;
      }
    }
    on_message_(peer, std::vector<uint8_t>(payload.begin(), payload.end()));
  }

  ServerLimits limits_;
  std::string prefix_, subscription_;
  OnMessage on_message_;
  Endpoint broker_;
  mutable std::mutex mutex_;
  std::map<std::string, PeerId> peers_;
  std::map<PeerId, std::string> devices_;
  PeerId next_peer_ = 1;
  detail::ServerStatsCounter counters_;
  std::optional<LinkSecurity> security_;
  std::map<std::pair<PeerId, uint32_t>, detail::OneShotKeys> reply_keys_;  // sealed: per request awaiting its reply
  std::set<crypto::Bytes32> seen_;  // sealed: the last 4096 requests' ephemerals (replay)
  std::deque<crypto::Bytes32> seen_order_;
  int64_t refused_ = 0;
  Connection connection_;  // last: destroyed (network thread stopped) first
};

class MqttClient final : public RequestClient {
 public:
  MqttClient(const Endpoint& broker, std::string prefix, std::string device, double retry_s, uint32_t max_message_bytes,
             const LinkSecurity* security)
      : broker_(broker), prefix_(std::move(prefix)), device_(std::move(device)), retry_s_(retry_s),
        max_message_bytes_(max_message_bytes) {
    if (security) security_ = *security;
  }
  // Sealed: a ping answered proves the enrolment (a refusal shows here).
  Status Connect(Deadline deadline) override {
    if (!security_) return Status::Ok();
    wire::MessageHeader h;
    h.type = wire::MessageType::kPing;
    h.request_id = 0xFFFFFFF0u;
    h.dtype = DType::kUInt8;
    std::vector<uint8_t> m(wire::EncodedMessageBytes(h, 0));
    ES_RETURN_IF_ERROR(wire::EncodeMessage(h, {}, m).status());
    auto r = Call(m, h.request_id, deadline, nullptr);
    if (r.ok() || IsRefusal(r.status())) return r.status();
    return InvalidArgument("refused: no answer over MQTT to a sealed ping (" + r.status().message() + ")");
  }
  Status Open() {
    return connection_.Open(device_, broker_, prefix_ + "/reply/" + device_,
                            [this](const std::string&, std::span<const uint8_t> p) { OnReply(p); }, DeadlineIn(10));
  }
  const Endpoint& server() const override { return broker_; }
  int64_t suppressed_duplicates() const override { return suppressed_.load(); }

  Result<std::vector<uint8_t>> Call(std::span<const uint8_t> message, uint32_t request_id, Deadline deadline,
                                    CallReport* report) override {
    const auto t0 = Clock::now();
    std::vector<uint8_t> sealed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      waiting_ = request_id;
      reply_.reset();
      refusal_.reset();
      if (security_) {  // sealed once: a retry republishes the same bytes
        ES_RETURN_IF_ERROR(detail::SealOneShot(*security_, message, &sealed, &keys_));
        message = sealed;
      }
    }
    const std::string topic = prefix_ + "/req/" + device_;
    for (int attempt = 0;; ++attempt) {
      ES_RETURN_IF_ERROR(connection_.Publish(topic, message));
      if (report && attempt == 0) {
        report->request.message_bytes = static_cast<int64_t>(message.size());
        report->request.fragments = 1;
        report->request.transfer_s = SecondsSince(t0);
      }
      const Deadline retry = std::min(deadline, DeadlineIn(retry_s_));
      std::unique_lock<std::mutex> lock(mutex_);
      if (changed_.wait_until(lock, retry, [&] { return reply_.has_value() || refusal_.has_value(); })) {
        if (refusal_) {
          waiting_ = 0;
          return *refusal_;
        }
        std::vector<uint8_t> r = std::move(*reply_);
        reply_.reset();
        answered_ = request_id;
        waiting_ = 0;
        return r;
      }
      if (Clock::now() >= deadline) {
        waiting_ = 0;
        return DeadlineExceeded("request " + std::to_string(request_id) + " over MQTT (" + std::to_string(attempt + 1) +
                                " attempts): no reply before the deadline");
      }
    }
  }

 private:
  void OnReply(std::span<const uint8_t> payload) {
    std::vector<uint8_t> opened;
    if (security_) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (waiting_ == 0) return;
      const Status s = detail::OpenOneShotReply(keys_, payload, &opened);
      if (IsRefusal(s)) {
        refusal_ = s;
        changed_.notify_all();
        return;
      }
      if (!s.ok()) return;  // forged, or sealed for an earlier request
      payload = opened;
    }
    wire::WireLimits wl;
    wl.max_payload_bytes = max_message_bytes_;
    auto d = wire::DecodeMessage(payload, wl);
    if (!d.ok()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const uint32_t id = d->header.request_id;
    if (waiting_ != 0 && id == waiting_ && !reply_) {
      reply_.emplace(payload.begin(), payload.end());
      changed_.notify_all();
    } else {
      ++suppressed_;  // a second replica's answer, or a stale one after a retry
    }
  }

  Endpoint broker_;
  std::string prefix_, device_;
  double retry_s_;
  uint32_t max_message_bytes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  uint32_t waiting_ = 0, answered_ = 0;
  std::optional<std::vector<uint8_t>> reply_;
  std::optional<Status> refusal_;
  std::optional<LinkSecurity> security_;
  detail::OneShotKeys keys_;  // the current request's
  std::atomic<int64_t> suppressed_{0};
  Connection connection_;  // last: destroyed (network thread stopped) first
};

}  // namespace

std::string MqttTopicPrefix(uint32_t model_hash) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", model_hash);
  return std::string("edgesplit/") + hex;
}

Result<std::unique_ptr<ServerTransport>> CreateMqttServer(const Endpoint& broker, const MqttOptions& o, const ServerLimits& limits,
                                                          ServerTransport::OnMessage on_message, std::string* subscription,
                                                          const LinkSecurity* security) {
  if (security && !security->enrolled) return InvalidArgument("a secure server needs its enrolled device keys (--allow FILE)");
  if (!ValidTopicLevel(o.group)) return InvalidArgument("MQTT group '" + o.group + "' must be one topic level (no / + #)");
  if (!ValidTopicLevel(o.client_id)) return InvalidArgument("MQTT client id '" + o.client_id + "' must be one topic level");
  auto server = std::make_unique<MqttServer>(limits, MqttTopicPrefix(o.model_hash), std::move(on_message), security);
  ES_RETURN_IF_ERROR(server->Open(broker, o.group, o.client_id));
  if (subscription) *subscription = server->subscription();
  return std::unique_ptr<ServerTransport>(std::move(server));
}

Result<std::unique_ptr<RequestClient>> CreateMqttClient(const Endpoint& broker, const MqttOptions& o, uint32_t max_message_bytes,
                                                        const LinkSecurity* security) {
  if (!ValidTopicLevel(o.client_id))
    return InvalidArgument("MQTT device name '" + o.client_id + "' must be one topic level (no / + #)");
  if (!(o.retry_s > 0)) return InvalidArgument("MQTT retry interval must be positive");
  auto client = std::make_unique<MqttClient>(broker, MqttTopicPrefix(o.model_hash), o.client_id, o.retry_s,
                                             max_message_bytes + static_cast<uint32_t>(detail::kOneShotReplyOverhead), security);
  ES_RETURN_IF_ERROR(client->Open());
  return std::unique_ptr<RequestClient>(std::move(client));
}

}  // namespace edgesplit::net
