import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import org.apache.flink.runtime.rest.util.RestMapperUtils;

/**
 * The test oracle for what tsflink's REST API serves: GETs a URL and reads the answer with Apache
 * Flink's own REST message class for it and Flink's strict JSON mapper (unknown fields, wrong
 * types and missing creator properties fail), as Flink's REST client would. Prints the message
 * written back by Flink's mapper (what Flink understood) and exits 0, or prints the error and
 * exits 1.
 *
 * <p>Usage: java -cp $FLINK_HOME/lib/*:. RestProbe <url> <message class> [bearer token]
 */
public class RestProbe {
    public static void main(String[] args) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(args[0])).GET();
        if (args.length > 2) request.header("Authorization", "Bearer " + args[2]);
        HttpResponse<String> response = HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            System.out.println("HTTP " + response.statusCode() + ": " + response.body());
            System.exit(1);
        }
        try {
            Object message = RestMapperUtils.getStrictObjectMapper().readValue(response.body(), Class.forName(args[1]));
            System.out.println(RestMapperUtils.getStrictObjectMapper().writeValueAsString(message));
        } catch (Exception e) {
            System.out.println(e.toString().replace('\n', ' '));
            System.exit(1);
        }
    }
}
