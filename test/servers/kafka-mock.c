/*
 * A Kafka-protocol broker for tests: librdkafka's mock cluster on 127.0.0.1.
 * Usage: kafka-mock [brokers] [initial-rebalance-delay-ms]. Prints the bootstrap servers, then
 * reads commands on stdin:
 *   topic <name> <partitions>   create a topic (answers "ok" or "error <reason>")
 * and exits when stdin closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include "rdkafka.h"
#include "rdkafka_mock.h"

int main(int argc, char **argv) {
    int brokers = argc > 1 ? atoi(argv[1]) : 1;
    int rebalance_delay_ms = argc > 2 ? atoi(argv[2]) : 3000;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "could not create the mock cluster\n");
        return 1;
    }
    /* kafkajs needs a controller in Metadata responses ("Broker 0 not found" otherwise). */
    rd_kafka_mock_set_controller_id(mc, 1);
    /* Kafka's group.initial.rebalance.delay.ms (3 s by default) delays every new group's first join. */
    rd_kafka_mock_group_initial_rebalance_delay_ms(mc, rebalance_delay_ms);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char name[256];
        int partitions;
        if (sscanf(line, "topic %255s %d", name, &partitions) == 2) {
            rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, 1);
            if (err) printf("error %s\n", rd_kafka_err2str(err));
            else printf("ok\n");
        } else {
            printf("error unknown command\n");
        }
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
